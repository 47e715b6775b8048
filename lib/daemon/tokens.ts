/**
 * Join tokens, kept as replicated records (kind {@link TOKEN_RECORD}, keyed by the secret's
 * hash) so that any member can issue, list, revoke and accept them. A used or revoked token
 * leaves a tombstone, so a late join is told the token was used rather than that it is unknown.
 *
 * A member that cannot store (a full, read-only or failing disk) refuses to issue a token (507):
 * a token answered must be one this member holds, as any member may be the one a join asks, and a
 * restart must find it. It answered the token, stored by the other members only: in a cluster of
 * one, a restart lost it. Refused before the token spreads when the store is known to fail and
 * the disk refuses a sync (read-only, failing); a write that fails after (a full disk, a first
 * failure) withdraws it, so no token the operator was not given stays live (its name blocked for
 * a new one, a secret on the wire). A revocation spreads whatever the disk does, and answers 507
 * when this member did not store it.
 *
 * @module
 */
import { TOKEN_RECORD, tokensOf } from "../cluster/roster.ts";
import { encodeToken, hashSecret, newTokenSecret } from "../cluster/token.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import type { Clock } from "../cluster/clock.ts";
import { fingerprint } from "../net/certificates.ts";
import type { Network } from "./network.ts";
import type { TokenClaims } from "./token_claims.ts";
import type { TokenInfo } from "./service.ts";
import { diskRefusal } from "./disk_refusal.ts";

/** How long a consumed or revoked token's tombstone is kept when the token never expired, ms. */
const TOMBSTONE_MS = 30 * 86_400_000;
/**
 * How long a token's record outlives the token's expiry, ms, so that a late join is told the
 * token expired (or was used) rather than that it is unknown.
 */
const EXPIRED_KEPT_MS = 86_400_000;

/** The join tokens of one member's cluster. */
export class JoinTokens {
  /** This member's claims on tokens, for single use across members (see `token_claims.ts`). */
  readonly claims: TokenClaims;
  readonly #online: () => Network;
  readonly #clock: Clock;

  /**
   * `online` returns the network of an online member, or throws the member's unavailable
   * message (for a waiting member: the members it waits for).
   */
  constructor(online: () => Network, clock: Clock, claims: TokenClaims) {
    this.#online = online;
    this.#clock = clock;
    this.claims = claims;
  }

  /**
   * Issues a join token for `name`, valid for `expireAfterMs` (0 = no expiry). It lists the
   * live members' addresses and pins the cluster certificate by its fingerprint. Answered once
   * this member's store holds it: a member that cannot store (a full, read-only or failing
   * disk) refuses, and no token the operator was not given stays live anywhere (see the
   * module docs).
   *
   * @throws {ConflictError} when a member of that name exists, or an unexpired token for it
   * @throws {NoSpaceError|DiskError} (507) when this member's disk failed the token's write
   */
  async create(name: string, expireAfterMs: number): Promise<string> {
    const net = this.#online();
    // A store already failing its writes is asked for a sync before the token spreads: a
    // read-only or failing disk refuses it, and the token never leaves this member. Not asked
    // otherwise: its two fsyncs cost ~8 ms a token, and a first failure withdraws the token.
    if (net.persistence.failing) {
      await net.persistence.sync().catch((err: unknown) => {
        throw diskRefusal(err, `Cannot issue a join token for "${name}": nothing changed`);
      });
    }
    const { gossip, view, identity } = this.#online();
    if (view.roster().has(name)) {
      throw new ConflictError(`A member named "${name}" already exists`);
    }
    const now = this.#clock.now();
    if (tokensOf(gossip).some(([, t]) => t.name === name && !expired(t.expiresAt, now))) {
      throw new ConflictError(`A join token for "${name}" already exists: revoke it first`);
    }
    const secret = newTokenSecret();
    const hash = hashSecret(secret);
    const expiresAt = expireAfterMs > 0 ? now + expireAfterMs : null;
    gossip.setRecord(TOKEN_RECORD, hash, { name, expiresAt, createdAt: now }, {
      ...(expiresAt !== null ? { expiresAt: expiresAt + EXPIRED_KEPT_MS } : {}),
    });
    try {
      await net.persistence.written();
    } catch (err) {
      // A full disk passes the sync and fails the write. The other members may have stored the
      // token already: its tombstone takes it back everywhere, as nobody was given its secret.
      try {
        this.#tombstone(net.gossip, hash, expiresAt);
      } catch { /* the member stopped meanwhile: its gossip is closed */ }
      throw diskRefusal(err, `Cannot issue a join token for "${name}": it was withdrawn`);
    }
    return encodeToken({
      secret,
      fingerprint: fingerprint(identity.clusterCert),
      join_addresses: view.liveAddresses(),
    });
  }

  /** Unexpired, unused tokens, by name. */
  list(): Promise<TokenInfo[]> {
    const { gossip } = this.#online();
    const now = this.#clock.now();
    const list = tokensOf(gossip)
      .filter(([, t]) => !expired(t.expiresAt, now))
      .map(([, t]) => ({
        name: t.name,
        expires_at: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString(),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return Promise.resolve(list);
  }

  /**
   * Revokes the token issued for `name`: its tombstone spreads at once, whatever this member's
   * disk does (a revocation must take effect), and the answer says whether this member stored
   * it. A revocation only this member held (a cluster of one) is lost if it stops before its
   * disk takes it, and the token is live again at its next start.
   *
   * @throws {NotFoundError} when there is none
   * @throws {NoSpaceError|DiskError} (507) when revoked but not stored by this member (it
   *   retries)
   */
  async revoke(name: string): Promise<void> {
    const net = this.#online();
    const found = tokensOf(net.gossip).filter(([, t]) => t.name === name);
    if (!found.length) throw new NotFoundError(`No join token for "${name}"`);
    for (const [hash, t] of found) this.consume(hash, t.expiresAt);
    await net.persistence.written().catch((err: unknown) => {
      throw diskRefusal(
        err,
        `The join token for "${name}" was revoked, but this member could not store its ` +
          "revocation yet (it retries; the other members, if any, store it)",
      );
    });
  }

  /** Replaces the token with secret hash `hash` (expiring at `expiresAt`) by its tombstone. */
  consume(hash: string, expiresAt: number | null): void {
    this.#tombstone(this.#online().gossip, hash, expiresAt);
  }

  #tombstone(gossip: Network["gossip"], hash: string, expiresAt: number | null): void {
    gossip.setRecord(TOKEN_RECORD, hash, null, {
      expiresAt: expiresAt !== null
        ? expiresAt + EXPIRED_KEPT_MS
        : this.#clock.now() + TOMBSTONE_MS,
    });
  }
}

function expired(expiresAt: number | null, now: number): boolean {
  return expiresAt !== null && now >= expiresAt;
}
