/**
 * Questions a member asks the others outside gossip, with only its own certificate to show:
 * whether it was removed (before it opens after a restart), and to be taken out of the roster
 * (after a failed join, or to finish a leave cut short by a crash).
 *
 * @module
 */
import { MEMBER_RECORD } from "../../cluster/roster.ts";
import { fingerprint } from "../../net/certificates.ts";
import type { MemberContext } from "../context.ts";
import type { Network } from "../network.ts";
import { answerError } from "../peers.ts";
import type { Transition } from "../transition.ts";

/** How long one question may take, ms. */
const ASK_TIMEOUT_MS = 3000;
/** How long one request to withdraw may take while a start finishes a step cut short, ms. */
export const RESUME_ASK_MS = 3000;

/**
 * What a member of `net` asks about its own removal with ({@link askRemoved}'s arguments): its
 * name, its incarnation's admission (`joinedAt`; a tombstone must be newer: a removal wins over
 * every later write of the incarnation it removed, `roster_rules.ts` rule 2), and its
 * certificate, with the listeners pinned to the cluster's. Not its record's version: removed
 * with --force while its join was under way, a member that committed before it heard the
 * tombstone rewrote its record (the join's mark cleared) after it, asked with that version, was
 * told the tombstone was older, and stayed online, refused and listed by nobody, for good.
 */
export function removalQuestion(net: Network): {
  name: string;
  since: number;
  identity: { cert: string; key: string; fingerprint: string };
} {
  const name = net.config.name;
  const { cert, key, clusterCert } = net.identity;
  return {
    name,
    since: admittedAt(net.gossip.record(MEMBER_RECORD, name)),
    identity: { cert, key, fingerprint: fingerprint(clusterCert) },
  };
}

/** The admission its own record states, else (no such record) the record's version, or 0. */
function admittedAt(own: { version: number; value: unknown } | undefined): number {
  const joinedAt = (own?.value as { joinedAt?: unknown } | null | undefined)?.joinedAt;
  return typeof joinedAt === "number" ? joinedAt : own?.version ?? 0;
}

/** What the others say about this member's removal. */
export type RemovalAnswer = "removed" | "member" | "unknown";

/**
 * Asks every peer in parallel whether `name` was removed; resolves as soon as one answers with
 * its tombstone (newer than `since`, this member's own admission as its record states it), or once every peer answered or failed. A member removed while it was down learns
 * it here: the others no longer trust its certificate, so gossip cannot tell it.
 */
export function askRemoved(
  ctx: MemberContext,
  peers: readonly string[],
  name: string,
  since: number,
  identity: { cert: string; key: string; fingerprint: string },
): Promise<RemovalAnswer> {
  return new Promise((resolve) => {
    let pending = peers.length;
    let member = false;
    if (!pending) return resolve("unknown");
    const done = () => {
      if (--pending === 0) resolve(member ? "member" : "unknown");
    };
    for (const address of peers) {
      ctx.env.peers.request({
        address,
        method: "GET",
        path: `/core/internal/cluster/${encodeURIComponent(name)}`,
        fingerprint: identity.fingerprint,
        identity,
        timeoutMs: ASK_TIMEOUT_MS,
      }).then((answer) => {
        const body = (answer.body as { metadata?: { removed?: unknown; version?: unknown } })
          ?.metadata;
        if (answer.status === 200 && body?.removed === true) {
          const version = typeof body.version === "number" ? body.version : Infinity;
          if (version > since) return resolve("removed");
        } else if (answer.status === 200) member = true;
      }, (err) => {
        ctx.logger.debug("Could not ask a member about this member's removal", { address, err });
      }).finally(done);
    }
  });
}

/**
 * Asks the peers, one after the other, to remove `name` (forced): the way out of a join that was
 * admitted but not completed, or of a leave whose tombstone may not have spread. Resolves
 * `true` once one did it or told that `name` is not a member (any more); `false` when none could.
 *
 * A 403 (this certificate is not trusted there) means that member does not hold `name` in its
 * roster: after a leave, it holds the tombstone. After a join cut short (`unheard`), it may only
 * not have heard of the admission yet (the admitting member was killed before its answer
 * reached us, and spreads the admission once it restarts): such a 403 counts only when that
 * member says `name` was removed.
 */
export async function withdraw(
  ctx: MemberContext,
  peers: readonly string[],
  name: string,
  identity: { cert: string; key: string; fingerprint: string },
  options: {
    /** Per request, ms. @default 10_000 */
    timeoutMs?: number;
    /** After a join cut short (see above). @default false */
    unheard?: boolean;
    /** Members that cannot be reached are logged at debug level (a retry). @default false */
    quiet?: boolean;
    /**
     * No request goes on past this moment (the member's clock, ms): the last is cut short at
     * it, and the rest are not sent. @default none
     */
    deadline?: number;
  } = {},
): Promise<boolean> {
  const { timeoutMs = 10_000, unheard = false, quiet = false, deadline = Infinity } = options;
  for (const address of peers) {
    const left = deadline - ctx.env.clock.now();
    if (left <= 0) return false;
    try {
      const answer = await ctx.env.peers.request({
        address,
        method: "DELETE",
        path: `/core/1.0/cluster/${encodeURIComponent(name)}?force=1`,
        fingerprint: identity.fingerprint,
        identity,
        timeoutMs: Math.min(timeoutMs, Math.ceil(left)),
      });
      // 404: not a member; 403: not trusted, so not in that member's roster either.
      if (answer.status < 300 || answer.status === 404) return true;
      if (answer.status === 403) {
        if (!unheard || await askRemoved(ctx, [address], name, 0, identity) === "removed") {
          return true;
        }
        continue;
      }
      ctx.logger.warn("A member did not take this member out of the roster", {
        address,
        reason: answerError(answer),
      });
    } catch (err) {
      ctx.logger[quiet ? "debug" : "warn"]("Could not reach a member to leave the roster", {
        address,
        err,
      });
    }
  }
  return false;
}

/**
 * At start, finishing a join or a leave that a crash cut short: asks the members the transition
 * mark lists to take this member out, with the identity the state directory still holds (none:
 * nothing to ask with, nobody could have admitted it).
 */
export async function withdrawMarked(ctx: MemberContext, t: Transition): Promise<void> {
  const identity = await ctx.storedIdentity();
  if (!identity || !t.peers.length || !t.name) return;
  await withdraw(
    ctx,
    t.peers,
    t.name,
    { ...identity, fingerprint: t.fingerprint },
    { timeoutMs: RESUME_ASK_MS },
  );
}
