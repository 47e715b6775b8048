/**
 * A join token's single use without a leader. Before a member admits a joiner, a majority of the
 * cluster's members must claim the token for that joiner (`token_claims.ts`): the admitting
 * member itself, and the others it asks. Two majorities of one roster share a member, and a
 * member claims a token for one machine only, so one token never admits two machines, however
 * the cluster is split: the side without a majority refuses (503, naming the members it could
 * not reach), and so do both sides of an even split.
 *
 * The electorate is the roster as the admitting member knows it: the members whose join
 * completed (a joiner still pending neither counts nor is asked). A one-member cluster confirms
 * alone; a two-member cluster needs both.
 *
 * The round decides the token's expiry as well: `expiresAt` is the issuer's clock, and each
 * member, the admitting one included, refuses a token expired by its own clock (its vote, see
 * `expiryProblem` in `admission.ts`). A member whose wall clock is ahead is outvoted by a majority
 * that holds the token valid; one whose clock is behind cannot admit a token a majority holds
 * expired.
 *
 * A round is bounded in time ({@link CLAIM_ROUND_MS}), whatever its members cost: the joiner
 * waits for the round within its own join request, and one that outlasted that wait (forming 50
 * members beside two busy loops, issue 15) was admitted or refused after the joiner had given
 * up. So the admitting member's own claim, written durably, is one vote among the others, asked
 * at once rather than after that write; a majority and a few more are asked first, another for
 * each one that refuses or cannot be reached, and every member once half the round is gone.
 *
 * A member out of file descriptors (its `LimitNOFILE` reached) can neither write its own claim
 * nor open a connection to ask the others: its refusal says so (503 `E_FD_LIMIT`, naming it and
 * its limit), rather than calling itself and the members it could not dial unreachable.
 *
 * A round that fails releases the claims it won (and tells the members that did not answer),
 * so the joiner may try again at once (at this member or another). The one undo path is that
 * release; one that cannot be delivered is tried again for a while, since it would leave the
 * token claimed for that machine at the members that missed it.
 *
 * @module
 */
import { type TimerHandle, wallNow } from "../../cluster/clock.ts";
import { hasJoined, tokenOf } from "../../cluster/roster.ts";
import {
  CohortError,
  ConflictError,
  describeDescriptorLimit,
  descriptorFault,
  DescriptorLimitError,
  ForbiddenError,
  isCohortError,
  UnavailableError,
} from "../../errors.ts";
import { fingerprint } from "../../net/certificates.ts";
import { openFileLimit } from "../../open_files.ts";
import type { MemberContext } from "../context.ts";
import type { Network } from "../network.ts";
import { expiryProblem } from "../admission.ts";
import { answerError, type PeerAnswer } from "../peers.ts";
import type { TokenClaim, TokenClaims } from "../token_claims.ts";

/**
 * How long a claim round may take, from its start to its verdict, ms: whatever the members'
 * answers and this member's own write cost, the joiner hears admission or refusal well before
 * it stops waiting for its join request (`JOIN_TIMEOUT_MS`, 15 s), with room for the admission
 * and the releases of a refused round.
 */
export const CLAIM_ROUND_MS = 6000;
/**
 * After this long without a verdict the members not asked yet are asked too, ms: a round first
 * asks a majority and a few more (see {@link firstAsked}), and asks another member for each one
 * that refuses or cannot be reached; slow answers are covered this way.
 */
const CLAIM_WIDEN_MS = CLAIM_ROUND_MS / 2;
/** How long one attempt to deliver a release may take, ms. */
const RELEASE_TIMEOUT_MS = 5000;
/** How long a refusal waits for its releases before answering the joiner, ms. */
const RELEASE_WAIT_MS = 3000;
/** Attempts to deliver one release (the first included), {@link RELEASE_RETRY_MS} apart. */
const RELEASE_ATTEMPTS = 6;
const RELEASE_RETRY_MS = 5000;

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
  const now = wallNow(ctx.env.clock); // a token expires at a date
  const token = tokenOf(net.gossip, claim.hash);
  if (token.state === "used") {
    throw new ForbiddenError("Join token was already used or has been revoked");
  }
  if (token.state === "live") {
    const { entry } = token;
    // This member's vote on the token's expiry, by its own clock (see `expiryProblem`).
    const expired = expiryProblem(entry, now);
    if (expired) throw new ForbiddenError(expired);
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
  /**
   * Where this member was out of file descriptors: its own claim unwritten, or the members it
   * could not open a connection to (its own name among them for the former), and the code.
   */
  starved: { names: string[]; code?: string };
}

/**
 * How many of the other members a round asks first, when `needed` claims make a majority and
 * this member's own is one of them when `voter`: enough for a majority, and a tenth more (at
 * least one) so that one slow member does not hold the round up. Asking every member at once
 * made each join cost every member a connection and a durable write, and the admitting member
 * a TLS handshake per member, all at the same moment: at fifty members on a loaded machine the
 * rounds outgrew their timeouts.
 */
function firstAsked(needed: number, voter: boolean, others: number): number {
  const wanted = needed - (voter ? 1 : 0);
  return Math.min(others, wanted + 1 + Math.floor(wanted / 10));
}

/**
 * Has a majority of the roster claim the token for `claim`'s joiner; resolves once they did
 * (without waiting for the rest), or throws after releasing what it won. The verdict comes
 * within {@link CLAIM_ROUND_MS} (and the releases of a refusal within RELEASE_WAIT_MS more):
 * this member's own claim counts once written, but the others are asked meanwhile.
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
  const inElectorate = electorate.some(([name]) => name === own);
  const wallClockNow = () => wallNow(ctx.env.clock); // a token expires at a date
  const tally: Tally = { granted: [], refused: [], silent: [], starved: { names: [] } };
  /** Notes `name` as not asked for want of descriptors here, when `err` says so. */
  const starved = (name: string, err: unknown): boolean => {
    const code = descriptorFault(err);
    if (code === undefined) return false;
    tally.starved.names.push(name);
    tally.starved.code ??= code;
    return true;
  };
  // By this member's clock the token expired: its vote is a refusal, and the others decide
  // (its clock may be ahead of the issuer's).
  const token = tokenOf(net.gossip, claim.hash);
  const expired = token.state === "live" ? expiryProblem(token.entry, wallClockNow()) : undefined;
  if (inElectorate && expired) tally.refused.push({ name: own, error: expired, status: 403 });
  const voter = inElectorate && !expired;
  // Refused at once (held for another machine, …): nobody else is asked.
  const written = expired
    ? Promise.resolve()
    : holdOwn(claims, claim, settledIn(net, wallClockNow()));
  const others = ballot(net, electorate.filter(([name]) => name !== own), ctx.env.random);
  const asked: string[] = [];
  const identity = { cert: net.identity.cert, key: net.identity.key };
  const pinned = fingerprint(net.identity.clusterCert);
  const clock = ctx.env.clock;
  // A duration on the monotonic clock: on the wall clock, a step forwards during the round gave
  // every member asked after it a timeout of 1 ms.
  const deadline = clock.now() + CLAIM_ROUND_MS;
  const enough = await new Promise<boolean>((resolve) => {
    let open = voter ? 1 : 0; // answers still to come, this member's own included
    let over = false;
    const timers = [
      // On the daemon's clock: met late by a held loop, it reads the grants waiting first.
      clock.setTimeout(() => finish(false), CLAIM_ROUND_MS),
      clock.setTimeout(() => {
        while (asked.length < others.length) ask();
      }, CLAIM_WIDEN_MS),
    ];
    const finish = (verdict: boolean) => {
      if (over) return;
      over = true;
      for (const t of timers) clock.clearTimeout(t);
      resolve(verdict);
    };
    // Answers after the verdict change nothing: the refusal names the members as they were then.
    const settle = (failed: boolean) => {
      open--;
      if (tally.granted.length >= needed) return finish(true);
      if (failed && asked.length < others.length) ask();
      // Every answer is in: the refusal names who granted, refused or could not be reached.
      if (!open) finish(false);
    };
    const ask = () => {
      const [name, entry] = others[asked.length];
      asked.push(name);
      open++;
      ctx.env.peers.request({
        address: entry.address,
        method: "POST",
        path: CLAIM_PATH,
        body: claim,
        fingerprint: pinned,
        identity,
        timeoutMs: Math.max(1, deadline - clock.now()),
        // A kept connection: a fresh one per claim cost the admitting member a TLS handshake
        // with a majority of the cluster for every join.
        peerCert: net.identity.clusterCert,
        connections: net.connections,
      }).then((answer: PeerAnswer) => {
        if (over) return;
        if (answer.status === 200) tally.granted.push(name);
        else tally.refused.push({ name, error: answerError(answer), status: answer.status });
        settle(answer.status !== 200);
      }, (err) => {
        ctx.logger.debug("A member did not answer a token claim", { member: name, err });
        if (over) return;
        if (!starved(name, err)) tally.silent.push(name);
        settle(true);
      });
    };
    if (!voter) written.catch(() => {}); // not counted: a failed write is no refusal
    else {
      written.then(() => {
        if (over) return;
        tally.granted.push(own);
        settle(false);
      }, (err) => {
        ctx.logger.warn("Could not write this member's token claim", { err });
        if (over) return;
        if (!starved(own, err)) tally.silent.push(own);
        settle(true);
      });
    }
    const first = firstAsked(needed, voter, others.length);
    while (asked.length < first) ask();
    if (!open) finish(tally.granted.length >= needed);
  });
  if (enough) return;
  // Members asked that did not answer yet may claim all the same (their answers lost, or still
  // to come): they are told too.
  const answered = new Set([...tally.granted, ...tally.refused.map((r) => r.name)]);
  const unanswered = asked.filter((name) =>
    !answered.has(name) && !tally.starved.names.includes(name)
  );
  tally.silent = [...new Set([...tally.silent, ...unanswered])];
  await releaseClaims(ctx, net, claims, claim, [...tally.granted, ...unanswered]);
  throw refusal(tally, needed, electorate.length, own);
}

/**
 * This member's own claim: its refusals (the token held for another machine, …) thrown at once,
 * a failure to read its claims (out of file descriptors) returned as the write's failure, so that
 * the round's refusal says why.
 */
function holdOwn(
  claims: TokenClaims,
  claim: TokenClaim,
  settled: (hash: string) => boolean,
): Promise<void> {
  try {
    return claims.hold(claim, settled);
  } catch (err) {
    if (isCohortError(err)) throw err;
    return Promise.reject(err);
  }
}

/**
 * The others in the order a round asks them: the members gossip says are alive first, then
 * those suspected, then the rest, each group shuffled (`random`: a float in [0, 1)) so that the
 * rounds' work spreads over the cluster.
 */
function ballot<T>(
  net: Network,
  others: [string, T][],
  random: () => number,
): [string, T][] {
  const rank = (name: string) => {
    const state = net.gossip.member(name)?.state;
    return state === "alive" ? 0 : state === "suspect" ? 1 : 2;
  };
  const keyed = others.map((entry) => ({ entry, rank: rank(entry[0]), key: random() }));
  keyed.sort((a, b) => a.rank - b.rank || a.key - b.key);
  return keyed.map((k) => k.entry);
}

/**
 * Releases `claim` at this member and at the members in `at`. Waits for the deliveries at most
 * RELEASE_WAIT_MS; a delivery that fails is tried again in the background, a few times, until
 * the token is used in this member's view (not when it expired by this member's clock, which may
 * be ahead of the others'): a release lost leaves the token
 * claimed for a machine that will not come back (a refused joiner drops its key pair).
 */
export async function releaseClaims(
  ctx: MemberContext,
  net: Network,
  claims: TokenClaims,
  claim: TokenClaim,
  at: readonly string[],
): Promise<void> {
  const identity = { cert: net.identity.cert, key: net.identity.key };
  const pinned = fingerprint(net.identity.clusterCert);
  const deliver = async (name: string, attempt: number): Promise<void> => {
    const address = net.view.roster().get(name)?.address;
    // Not skipped for a token expired by this member's clock only: the others, whose clocks
    // decide too, would hold it for a machine that will not come back.
    if (!address || tokenOf(net.gossip, claim.hash).state === "used") return;
    try {
      await ctx.env.peers.request({
        address,
        method: "POST",
        path: RELEASE_PATH,
        body: claim,
        fingerprint: pinned,
        identity,
        timeoutMs: RELEASE_TIMEOUT_MS,
        peerCert: net.identity.clusterCert,
        connections: net.connections,
      });
    } catch (err) {
      if (attempt < RELEASE_ATTEMPTS) {
        ctx.background.after(
          "Releasing a token claim",
          RELEASE_RETRY_MS,
          () => deliver(name, attempt + 1),
        );
        return;
      }
      ctx.logger.warn("Could not release a token claim: the token stays held for that joiner", {
        member: name,
        attempts: attempt,
        err,
      });
    }
  };
  const own = claims.release(claim).then(() => {}, (err) => {
    ctx.logger.warn("Could not write the release of this member's token claim", { err });
  });
  const names = [...new Set(at)].filter((name) => name !== net.config.name);
  const delivered = Promise.all([own, ...names.map((name) => deliver(name, 1))]);
  let timer: TimerHandle | undefined;
  await Promise.race([
    delivered,
    new Promise<void>((r) => (timer = ctx.env.clock.setTimeout(r, RELEASE_WAIT_MS))),
  ]);
  ctx.env.clock.clearTimeout(timer!);
}

/** The error that tells the joiner why it was not admitted. */
function refusal(tally: Tally, needed: number, of: number, own: string): CohortError {
  // A member that knows the token is used or held by another machine has the final word.
  const forbidden = tally.refused.find((r) => r.status === 403);
  if (forbidden) return new ForbiddenError(forbidden.error);
  const conflict = tally.refused.find((r) => r.status === 409);
  if (conflict) return new ConflictError(conflict.error);
  const list = (names: string[]) => names.sort().map((n) => `"${n}"`).join(", ");
  const others = tally.starved.names.filter((n) => n !== own);
  const why = [
    others.length ? `not asked, no connection could be opened: ${list(others)}` : "",
    tally.silent.length ? `unreachable: ${list(tally.silent)}` : "",
    tally.refused.length
      ? `refused: ${tally.refused.map((r) => `"${r.name}" (${r.error})`).join(", ")}`
      : "",
  ].filter(Boolean).join("; ");
  const confirmed = `${tally.granted.length} of ${of} members confirmed the token's single use ` +
    `(${needed} needed${why ? `; ${why}` : ""})`;
  // The cause is this member's own: it names it, and how to remedy it, not "unreachable".
  if (tally.starved.names.length) {
    const { code } = tally.starved;
    const limit = code === "ENFILE" ? undefined : openFileLimit();
    return new DescriptorLimitError(
      `Join refused: ${describeDescriptorLimit(code, `the admitting member "${own}"`, limit)}; ` +
        `${confirmed}: try again once its limit is raised, or join through another member`,
    );
  }
  return new UnavailableError(
    `Join refused: a majority of the cluster's members must confirm the token's single use, ` +
      `and ${tally.granted.length} of ${of} did (${needed} needed${why ? `; ${why}` : ""}): ` +
      "the cluster may be partitioned or members down; try again when a majority is reachable",
  );
}
