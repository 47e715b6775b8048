/**
 * A join token's single use without a leader. Before a member admits a joiner, a majority of the
 * cluster's members must claim the token for that joiner (`token_claims.ts`): the admitting
 * member itself, then every other member of its roster asked at once. Two majorities of one
 * roster share a member, and a member claims a token for one machine only, so one token never
 * admits two machines, however the cluster is split: the side without a majority refuses (503,
 * naming the members it could not reach), and so do both sides of an even split.
 *
 * The electorate is the roster as the admitting member knows it: the members whose join
 * completed (a joiner still pending neither counts nor is asked). A one-member cluster confirms
 * alone; a two-member cluster needs both.
 *
 * A round that fails releases the claims it won (and tells the members that did not answer),
 * so the joiner may try again at once (at this member or another). The one undo path is that
 * release; a release that cannot be delivered leaves the token claimed for that machine at the
 * members that missed it.
 *
 * @module
 */
import { hasJoined, tokenOf } from "../../cluster/roster.ts";
import { CohortError, ConflictError, ForbiddenError, UnavailableError } from "../../errors.ts";
import { fingerprint } from "../../net/certificates.ts";
import type { MemberContext } from "../context.ts";
import type { Network } from "../network.ts";
import { answerError, type PeerAnswer } from "../peers.ts";
import type { TokenClaim, TokenClaims } from "../token_claims.ts";

/** How long the admitting member waits for each member's answer, ms. */
export const CLAIM_TIMEOUT_MS = 5000;
/** How long one release may take, ms. */
const RELEASE_TIMEOUT_MS = 3000;

/** The internal endpoints a member asks the others at. */
export const CLAIM_PATH = "/core/internal/tokens/claim";
export const RELEASE_PATH = "/core/internal/tokens/release";

/**
 * Whether the token with secret hash `hash` no longer admits anyone in `net`'s view (used,
 * revoked, or expired): a claim on it is moot.
 */
export function settledIn(net: Network, now: number): (hash: string) => boolean {
  return (hash) => {
    const token = tokenOf(net.gossip, hash);
    if (token.state === "used") return true;
    return token.state === "live" && token.entry.expiresAt !== null &&
      now >= token.entry.expiresAt;
  };
}

/**
 * Claims the token for `claim`'s joiner at this member, for another member's join round: this
 * member refuses a token it knows is used, revoked, expired or issued for another name, a name
 * already a member, and a token another machine holds. A token it has not heard of yet (the
 * record is still on its way) is claimed all the same: the admitting member checked it.
 *
 * @throws {ForbiddenError} for a token that may not admit this joiner
 * @throws {ConflictError} when a member of that name exists
 */
export async function grantClaim(
  ctx: MemberContext,
  net: Network,
  claims: TokenClaims,
  claim: TokenClaim,
): Promise<void> {
  const now = ctx.env.clock.now();
  const token = tokenOf(net.gossip, claim.hash);
  if (token.state === "used") {
    throw new ForbiddenError("Join token was already used or has been revoked");
  }
  if (token.state === "live") {
    const { entry } = token;
    if (entry.expiresAt !== null && now >= entry.expiresAt) {
      throw new ForbiddenError(`Join token expired at ${new Date(entry.expiresAt).toISOString()}`);
    }
    if (entry.name !== claim.name) {
      throw new ForbiddenError(
        `Join token was issued for "${entry.name}", not for "${claim.name}"`,
      );
    }
  }
  if (net.view.roster().has(claim.name)) {
    throw new ConflictError(`A member named "${claim.name}" already exists`);
  }
  await claims.grant(claim, settledIn(net, now));
}

/**
 * A new claim round's name ({@link TokenClaim.round}): 32 hex digits from `random` (a float in
 * [0, 1), the member's randomness). Unique, not secret: only trusted members see it.
 */
export function newRound(random: () => number): string {
  let out = "";
  for (let i = 0; i < 4; i++) {
    out += Math.floor(random() * 0x1_0000_0000).toString(16).padStart(8, "0");
  }
  return out;
}

/** What a claim round found. */
interface Tally {
  granted: string[];
  /** Members that refused, with their reasons. */
  refused: { name: string; error: string; status: number }[];
  /** Members that could not be reached or did not answer in time. */
  silent: string[];
}

/**
 * Has a majority of the roster claim the token for `claim`'s joiner; resolves once they did
 * (without waiting for the rest), or throws after releasing what it won.
 *
 * @throws {ForbiddenError} when a member holds the token for another machine, or knows it used
 * @throws {UnavailableError} when no majority could be reached; the message names who was not
 */
export async function confirmUse(
  ctx: MemberContext,
  net: Network,
  claims: TokenClaims,
  claim: TokenClaim,
): Promise<void> {
  const own = net.config.name;
  const electorate = [...net.view.roster()].filter(([, entry]) => hasJoined(entry));
  const needed = Math.floor(electorate.length / 2) + 1;
  await claims.grant(claim, settledIn(net, ctx.env.clock.now()));
  const tally: Tally = { granted: [], refused: [], silent: [] };
  if (electorate.some(([name]) => name === own)) tally.granted.push(own);
  const others = electorate.filter(([name]) => name !== own);
  const identity = { cert: net.identity.cert, key: net.identity.key };
  const pinned = fingerprint(net.identity.clusterCert);
  const enough = tally.granted.length >= needed || await new Promise<boolean>((resolve) => {
    let pending = others.length;
    if (!pending) return resolve(false);
    const settle = () => {
      if (tally.granted.length >= needed) resolve(true);
      else if (--pending === 0) resolve(false);
    };
    for (const [name, entry] of others) {
      ctx.env.peers.request({
        address: entry.address,
        method: "POST",
        path: CLAIM_PATH,
        body: claim,
        fingerprint: pinned,
        identity,
        timeoutMs: CLAIM_TIMEOUT_MS,
      }).then((answer: PeerAnswer) => {
        if (answer.status === 200) tally.granted.push(name);
        else tally.refused.push({ name, error: answerError(answer), status: answer.status });
      }, (err) => {
        ctx.logger.debug("A member did not answer a token claim", { member: name, err });
        tally.silent.push(name);
      }).finally(settle);
    }
  });
  if (enough) return;
  // A member that did not answer may have claimed all the same (its answer lost): it is told
  // too, without holding the refusal up.
  void releaseClaims(ctx, net, claims, claim, tally.silent);
  await releaseClaims(ctx, net, claims, claim, tally.granted);
  throw refusal(tally, needed, electorate.length);
}

/** Releases `claim` at this member and at the members in `at` (their answers are not awaited long). */
export async function releaseClaims(
  ctx: MemberContext,
  net: Network,
  claims: TokenClaims,
  claim: TokenClaim,
  at: readonly string[],
): Promise<void> {
  await claims.release(claim);
  const roster = net.view.roster();
  const identity = { cert: net.identity.cert, key: net.identity.key };
  const pinned = fingerprint(net.identity.clusterCert);
  await Promise.all(
    at.filter((name) => name !== net.config.name).map(async (name) => {
      const address = roster.get(name)?.address;
      if (!address) return;
      try {
        await ctx.env.peers.request({
          address,
          method: "POST",
          path: RELEASE_PATH,
          body: claim,
          fingerprint: pinned,
          identity,
          timeoutMs: RELEASE_TIMEOUT_MS,
        });
      } catch (err) {
        ctx.logger.warn("Could not release a token claim: the token stays held for that joiner", {
          member: name,
          err,
        });
      }
    }),
  );
}

/** The error that tells the joiner why it was not admitted. */
function refusal(tally: Tally, needed: number, of: number): CohortError {
  // A member that knows the token is used or held by another machine has the final word.
  const forbidden = tally.refused.find((r) => r.status === 403);
  if (forbidden) return new ForbiddenError(forbidden.error);
  const conflict = tally.refused.find((r) => r.status === 409);
  if (conflict) return new ConflictError(conflict.error);
  const list = (names: string[]) => names.sort().map((n) => `"${n}"`).join(", ");
  const why = [
    tally.silent.length ? `unreachable: ${list(tally.silent)}` : "",
    tally.refused.length
      ? `refused: ${tally.refused.map((r) => `"${r.name}" (${r.error})`).join(", ")}`
      : "",
  ].filter(Boolean).join("; ");
  return new UnavailableError(
    `Join refused: a majority of the cluster's members must confirm the token's single use, ` +
      `and ${tally.granted.length} of ${of} did (${needed} needed${why ? `; ${why}` : ""}): ` +
      "the cluster may be partitioned or members down; try again when a majority is reachable",
  );
}
