/**
 * Join tokens, kept as replicated records (kind {@link TOKEN_RECORD}, keyed by the secret's
 * hash) so that any member can issue, list, revoke and accept them. A used or revoked token
 * leaves a tombstone, so a late join is told the token was used rather than that it is unknown.
 *
 * @module
 */
import { TOKEN_RECORD, tokensOf } from "../cluster/roster.ts";
import { encodeToken, hashSecret, newTokenSecret } from "../cluster/token.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import type { Clock } from "../cluster/membership.ts";
import { fingerprint } from "../net/certificates.ts";
import type { Network } from "./network.ts";
import type { TokenClaims } from "./token_claims.ts";
import type { TokenInfo } from "./service.ts";

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
   * live members' addresses and pins the cluster certificate by its fingerprint.
   *
   * @throws {ConflictError} when a member of that name exists, or an unexpired token for it
   */
  create(name: string, expireAfterMs: number): Promise<string> {
    const { gossip, view, identity } = this.#online();
    if (view.roster().has(name)) {
      throw new ConflictError(`A member named "${name}" already exists`);
    }
    const now = this.#clock.now();
    if (tokensOf(gossip).some(([, t]) => t.name === name && !expired(t.expiresAt, now))) {
      throw new ConflictError(`A join token for "${name}" already exists: revoke it first`);
    }
    const secret = newTokenSecret();
    const expiresAt = expireAfterMs > 0 ? now + expireAfterMs : null;
    gossip.setRecord(TOKEN_RECORD, hashSecret(secret), { name, expiresAt, createdAt: now }, {
      ...(expiresAt !== null ? { expiresAt: expiresAt + EXPIRED_KEPT_MS } : {}),
    });
    return Promise.resolve(encodeToken({
      secret,
      fingerprint: fingerprint(identity.clusterCert),
      join_addresses: view.liveAddresses(),
    }));
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
   * Revokes the token issued for `name`.
   *
   * @throws {NotFoundError} when there is none
   */
  revoke(name: string): Promise<void> {
    const { gossip } = this.#online();
    const found = tokensOf(gossip).filter(([, t]) => t.name === name);
    if (!found.length) throw new NotFoundError(`No join token for "${name}"`);
    for (const [hash, t] of found) this.consume(hash, t.expiresAt);
    return Promise.resolve();
  }

  /** Replaces the token with secret hash `hash` (expiring at `expiresAt`) by its tombstone. */
  consume(hash: string, expiresAt: number | null): void {
    this.#online().gossip.setRecord(TOKEN_RECORD, hash, null, {
      expiresAt: expiresAt !== null
        ? expiresAt + EXPIRED_KEPT_MS
        : this.#clock.now() + TOMBSTONE_MS,
    });
  }
}

function expired(expiresAt: number | null, now: number): boolean {
  return expiresAt !== null && now >= expiresAt;
}
