/**
 * One member's claims on join tokens: its promise that a token may admit one joiner, and no
 * other. A join is admitted only once a majority of the cluster's members hold the same claim
 * (see `flows/confirm_use.ts`); since two majorities share a member, and a member grants one
 * joiner per token, two machines can never both be admitted with one token, whatever the
 * partition.
 *
 * A claim is durable before it is granted (`token-claims.json` in the state directory, written
 * atomically), so a restart cannot make a member forget whom it promised. The file is written
 * off the event loop (a majority of the members claims for every join at once: two fsyncs on the
 * loop held their answers to probes at the same moment), one write at a time, each holding
 * every claim granted until it starts. It ends only when every round that counted it released
 * it (its join was refused; one machine may ask through several members, each a round; a claim
 * of a round released before the claim arrived is refused, see {@link TokenClaim.round}), or
 * once the token itself is settled in this member's view (used, revoked or expired: the record then refuses every
 * joiner): an unfinished join whose release never arrived keeps its token, and the error says
 * to revoke it and issue another.
 *
 * @module
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Clock, wallNow } from "../cluster/clock.ts";
import { ForbiddenError, TooManyRequestsError, UnavailableError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { watchOpenFileLimit } from "../open_files.ts";
import type { StatePaths } from "./state_dir.ts";
import { writeDurablyAsync } from "../write_durably.ts";

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
  /**
   * The admitting member's claim round (32 hex digits), when it names one: a release names the
   * round it ends, so a claim of that round arriving after it (it waited for a connection at a
   * loaded member while the release got through) is refused rather than held for ever.
   */
  round?: string;
}

interface Stored extends TokenClaim {
  /** When it was granted, ms since the epoch. */
  at: number;
  /**
   * Every round that counted this claim (the same machine asks again through another member, or
   * again at one): the claim ends when each of them released it. `round` is the first of them.
   */
  rounds?: string[];
}

/** Most claims one member keeps (each needs a live token, which only a member can issue). */
export const MAX_CLAIMS = 10_000;
/** How long a member remembers a released round whose claim it had not received, ms. */
export const RELEASED_ROUND_MS = 10 * 60_000;
/** Most released rounds remembered (the oldest are forgotten first). */
const MAX_RELEASED_ROUNDS = 4096;
/** Most rounds one claim remembers (the oldest are forgotten first). */
const MAX_ROUNDS_PER_CLAIM = 16;

/** The file of a state directory that keeps the claims. */
export function claimsFile(paths: StatePaths): string {
  return join(paths.dir, "token-claims.json");
}

/** Removes a state directory's claims (its member left, or never finished joining). */
export function removeClaims(paths: StatePaths): void {
  rmSync(claimsFile(paths), { force: true });
}

/** The rounds a stored claim serves; `undefined` for a claim of a member that names none. */
function roundsOf(held: Stored): string[] | undefined {
  return held.rounds ?? (held.round !== undefined ? [held.round] : undefined);
}

/** One member's claims; see the module docs. */
export class TokenClaims {
  readonly #paths: StatePaths;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #claims?: Map<string, Stored>;
  /** The last write of the file (writes are serialised: they share the temporary file). */
  #saving: Promise<void> = Promise.resolve();
  /** Rounds released before their claim arrived, with when (`clock.now()`: a duration counts). */
  readonly #released = new Map<string, number>();
  /** Claims some write of the file held (granted for good). */
  readonly #durable = new WeakSet<Stored>();
  /** The last write each claim waits for (by count), see {@link #written}. */
  readonly #attempts = new WeakMap<Stored, number>();

  constructor(paths: StatePaths, clock: Clock, logger: Logger) {
    this.#paths = paths;
    this.#clock = clock;
    this.#logger = logger;
    // A member out of file descriptors first meets it here, writing a claim: its refusal then
    // names its limit, read from a file it cannot open by then.
    watchOpenFileLimit();
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
      return this.hold(claim, settled);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * {@link grant}, with the decision taken at once: throws its refusals synchronously, and
   * returns the write of the granted claim (the claim counts once that settled). Meanwhile
   * this member already refuses the token to any other machine.
   */
  hold(claim: TokenClaim, settled: (hash: string) => boolean): Promise<void> {
    if (claim.round !== undefined && this.#wasReleased(claim.round)) {
      throw new UnavailableError("Join token claim refused: its join round already ended");
    }
    const claims = this.#load();
    const held = claims.get(claim.hash);
    if (held && !settled(held.hash)) {
      if (held.fingerprint === claim.fingerprint && held.name === claim.name) {
        // A retry (its first answer lost), or the same machine asking through another member:
        // the claim serves this round too, so a late release of the other round leaves it
        // alone. Written again, in case the first write failed.
        const rounds = roundsOf(held);
        if (claim.round !== undefined && rounds && !rounds.includes(claim.round)) {
          held.rounds = [...rounds, claim.round].slice(-MAX_ROUNDS_PER_CLAIM);
        }
        return this.#written(held);
      }
      throw new ForbiddenError(
        `Join token is claimed by another join of "${held.name}" (address ${held.address}): ` +
          "if that join failed, revoke the token and issue another",
      );
    }
    for (const [hash] of claims) if (settled(hash)) claims.delete(hash);
    if (claims.size >= MAX_CLAIMS) {
      throw new TooManyRequestsError("Too many join tokens are being claimed: try again later");
    }
    const stored: Stored = {
      hash: claim.hash,
      name: claim.name,
      address: claim.address,
      fingerprint: claim.fingerprint,
      at: wallNow(this.#clock), // kept in the file across restarts: a date
      ...(claim.round !== undefined ? { round: claim.round, rounds: [claim.round] } : {}),
    };
    claims.set(claim.hash, stored);
    return this.#written(stored);
  }

  /**
   * Writes the claims for `held`'s grant. When that write fails (a full disk) and no write ever
   * held the claim, nor is one queued for it, the claim is dropped: it was never granted (its
   * round counts this member's answer as a refusal and sends it no release), and kept in memory
   * it refused the token to the joiner's next try, from a machine with a new key, until the
   * token was revoked.
   */
  #written(held: Stored): Promise<void> {
    const attempt = (this.#attempts.get(held) ?? 0) + 1;
    this.#attempts.set(held, attempt);
    return this.#save().catch((err) => {
      const claims = this.#load();
      if (
        !this.#durable.has(held) && this.#attempts.get(held) === attempt &&
        claims.get(held.hash) === held
      ) claims.delete(held.hash);
      throw err;
    });
  }

  /**
   * Releases `claim` if this machine holds it, for the round the release names when both name
   * one (a claim that also serves another round keeps serving it); resolves with whether the
   * claim ended, once written. The round a release names is remembered for
   * {@link RELEASED_ROUND_MS}: its claim, arriving late, is refused.
   */
  async release(claim: TokenClaim): Promise<boolean> {
    const claims = this.#load();
    const held = claims.get(claim.hash);
    const rounds = held && roundsOf(held);
    const mine = held !== undefined && held.fingerprint === claim.fingerprint &&
      (rounds === undefined || claim.round === undefined || rounds.includes(claim.round));
    // Remembered even when held: that round's claim, arriving again late, must not count.
    if (claim.round !== undefined) this.#rememberReleased(claim.round);
    if (!mine) return false;
    const left = rounds && claim.round !== undefined ? rounds.filter((r) => r !== claim.round) : [];
    if (left.length) held.rounds = left;
    else claims.delete(claim.hash);
    await this.#save();
    return !left.length;
  }

  #wasReleased(round: string): boolean {
    const at = this.#released.get(round);
    return at !== undefined && this.#clock.now() - at < RELEASED_ROUND_MS;
  }

  #rememberReleased(round: string): void {
    const now = this.#clock.now();
    for (const [r, at] of this.#released) {
      if (now - at < RELEASED_ROUND_MS && this.#released.size < MAX_RELEASED_ROUNDS) break;
      this.#released.delete(r); // the oldest first: the map keeps insertion order
    }
    this.#released.set(round, now);
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
    } catch (err) {
      // Only a missing file means no claims yet. Any other failure (out of file descriptors, a
      // failing disk) is thrown and the file read again next time: taken for "none", the claims
      // granted before a restart were forgotten, and the next write dropped them from the file.
      if ((err as { code?: unknown }).code !== "ENOENT") throw err;
    }
    if (text !== undefined) {
      try {
        for (const c of JSON.parse(text).claims as Stored[]) {
          if (typeof c?.hash === "string" && typeof c.fingerprint === "string") {
            claims.set(c.hash, c);
            this.#durable.add(c);
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
      const held = [...this.#load().values()];
      const text = JSON.stringify({ claims: held }) + "\n";
      await writeDurablyAsync(this.#paths.dir, claimsFile(this.#paths), text);
      for (const c of held) this.#durable.add(c);
    };
    const saving = this.#saving.then(write, write);
    this.#saving = saving.catch(() => {});
    return saving;
  }
}
