/**
 * One member's claims on join tokens: its promise that a token may admit one joiner, and no
 * other. A join is admitted only once a majority of the cluster's members hold the same claim
 * (see `flows/confirm_use.ts`); since two majorities share a member, and a member grants one
 * joiner per token, two machines can never both be admitted with one token, whatever the
 * partition.
 *
 * A claim is durable before it is granted (`token-claims.json` in the state directory, written
 * atomically), so a restart cannot make a member forget whom it promised. The file is written
 * off the event loop (every member claims for every join, all at once: two fsyncs on the loop
 * held every member's answers to probes at the same moment), one write at a time, each holding
 * every claim granted until it starts. It ends only when the
 * member that asked for it releases it (its join was refused), or once the token itself is
 * settled in this member's view (used, revoked or expired: the record then refuses every
 * joiner): an unfinished join whose release never arrived keeps its token, and the error says
 * to revoke it and issue another.
 *
 * @module
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Clock } from "../cluster/membership.ts";
import { ForbiddenError, TooManyRequestsError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { StatePaths } from "./state_dir.ts";
import { writeDurablyAsync } from "./transition.ts";

/** The joiner a token is claimed for. */
export interface TokenClaim {
  /** Hex SHA-256 of the token's secret (the token record's key). */
  hash: string;
  /** The member name the joiner asks for. */
  name: string;
  /** The address it advertises. */
  address: string;
  /** Hex SHA-256 of its certificate: the machine itself. */
  fingerprint: string;
}

interface Stored extends TokenClaim {
  /** When it was granted, ms since the epoch. */
  at: number;
}

/** Most claims one member keeps (each needs a live token, which only a member can issue). */
export const MAX_CLAIMS = 10_000;

/** The file of a state directory that keeps the claims. */
export function claimsFile(paths: StatePaths): string {
  return join(paths.dir, "token-claims.json");
}

/** Removes a state directory's claims (its member left, or never finished joining). */
export function removeClaims(paths: StatePaths): void {
  rmSync(claimsFile(paths), { force: true });
}

/** One member's claims; see the module docs. */
export class TokenClaims {
  readonly #paths: StatePaths;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #claims?: Map<string, Stored>;
  /** The last write of the file (writes are serialised: they share the temporary file). */
  #saving: Promise<void> = Promise.resolve();

  constructor(paths: StatePaths, clock: Clock, logger: Logger) {
    this.#paths = paths;
    this.#clock = clock;
    this.#logger = logger;
  }

  /**
   * Grants `claim` (again, for the same machine: a retry), durably, unless another joiner holds
   * the token. `settled(hash)` tells whether a token no longer admits anyone in this member's
   * view: the claims on such tokens are dropped first.
   *
   * @throws {ForbiddenError} when another machine holds the token
   * @throws {TooManyRequestsError} when this member holds {@link MAX_CLAIMS} claims on live tokens
   */
  grant(claim: TokenClaim, settled: (hash: string) => boolean): Promise<void> {
    try {
      return this.#grant(claim, settled);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #grant(claim: TokenClaim, settled: (hash: string) => boolean): Promise<void> {
    const claims = this.#load();
    const held = claims.get(claim.hash);
    if (held && !settled(held.hash)) {
      // A retry (its first answer lost): written again, in case the first write failed.
      if (held.fingerprint === claim.fingerprint && held.name === claim.name) return this.#save();
      throw new ForbiddenError(
        `Join token is claimed by another join of "${held.name}" (address ${held.address}): ` +
          "if that join failed, revoke the token and issue another",
      );
    }
    for (const [hash] of claims) if (settled(hash)) claims.delete(hash);
    if (claims.size >= MAX_CLAIMS) {
      throw new TooManyRequestsError("Too many join tokens are being claimed: try again later");
    }
    claims.set(claim.hash, {
      hash: claim.hash,
      name: claim.name,
      address: claim.address,
      fingerprint: claim.fingerprint,
      at: this.#clock.now(),
    });
    return this.#save();
  }

  /** Releases `claim` if this machine holds it; resolves with whether it did, once written. */
  async release(claim: TokenClaim): Promise<boolean> {
    const claims = this.#load();
    const held = claims.get(claim.hash);
    if (!held || held.fingerprint !== claim.fingerprint) return false;
    claims.delete(claim.hash);
    await this.#save();
    return true;
  }

  /** The machine holding the token with secret hash `hash`, if any. */
  holder(hash: string): TokenClaim | undefined {
    const held = this.#load().get(hash);
    return held && { ...held };
  }

  #load(): Map<string, Stored> {
    if (this.#claims) return this.#claims;
    const claims = new Map<string, Stored>();
    let text: string | undefined;
    try {
      text = readFileSync(claimsFile(this.#paths), "utf8");
    } catch { /* none yet */ }
    if (text !== undefined) {
      try {
        for (const c of JSON.parse(text).claims as Stored[]) {
          if (typeof c?.hash === "string" && typeof c.fingerprint === "string") {
            claims.set(c.hash, c);
          }
        }
      } catch {
        this.#logger.warn("Ignoring an unreadable token-claims.json");
      }
    }
    return this.#claims = claims;
  }

  /** Writes the claims as they are when the write starts, after the write under way. */
  #save(): Promise<void> {
    const write = async () => {
      const text = JSON.stringify({ claims: [...this.#load().values()] }) + "\n";
      await writeDurablyAsync(this.#paths.dir, claimsFile(this.#paths), text);
    };
    const saving = this.#saving.then(write, write);
    this.#saving = saving.catch(() => {});
    return saving;
  }
}
