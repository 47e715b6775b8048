/**
 * What a restarted member learns before it opens (`open.ts`, step 2): the cluster, from a
 * push-pull with each member its store lists (one answer is enough: it carries the whole member
 * table), and whether it was removed while it was down.
 *
 * A removal cannot reach it by gossip: the others no longer trust its certificate, so their
 * listeners refuse its connections. It asks them instead (`askRemoved`). But a member that
 * answered its push-pull trusted its certificate when it did: it holds no removal of it (its
 * roster would not list the certificate), and its answer carried its records, the tombstone
 * included had it arrived meanwhile. So only the members whose push-pull has not been answered
 * are asked: those whose push-pull failed, at once, and the others once the push-pulls had as
 * long again as the first answer took ({@link ASK_AFTER_FIRST_MIN_MS} at least), or, when none
 * answered, after {@link ASK_WITHOUT_ANSWER_MS} if a member refused this one's certificate by
 * then (every member refusing it is what a removal looks like), else after
 * {@link ASK_SILENT_MS}. Each question was a TLS connection of its own beside the push-pull's
 * (issue 15's wake-up: 9 of each at N=10).
 *
 * A member whose gossip listener refuses this member's certificate (a 403 to its dial: it no
 * longer trusts it, which for a member that had admitted it means a removal) is asked at once:
 * its push-pull cannot be answered, and waiting {@link ASK_WITHOUT_ANSWER_MS} for the others'
 * answers only delayed what the refusal already showed.
 *
 * Silence alone is what a loaded machine looks like, not a removal: a member holding this one's
 * tombstone refuses its dial as soon as it handles it, when it would otherwise have answered. On
 * a busy 2-core machine the first answer came after 900 ms, and asking at 500 ms opened a TLS
 * connection more to each of 9 members for nothing. So without an answer or a refusal the
 * questions wait until {@link ASK_SILENT_MS}; a refusal heard later asks every member not
 * answered at once. A removed member thus learns it one question after the first refusal (at
 * {@link ASK_WITHOUT_ANSWER_MS} at the earliest for the members that neither answered nor
 * refused, as before), and, when no member answers or refuses at all (their listeners hung, or
 * dropping its frames), within {@link ASK_SILENT_MS} and one question's round trip of its
 * start: 1 s later than before, in that case only.
 *
 * A member that is down fails its push-pull at once, a network trip after it was sent: its
 * address refuses the connection, and the gossip layer fails the exchanges under way to it on
 * that (`PushPull.handleRefused`), so it is asked then, not once the others' answers were waited
 * for.
 *
 * The learning ends at the first tombstone told, or once the push-pulls gave a first answer (or
 * all failed, a refused one counting as failed) and every member answered either question or
 * failed to; a push-pull whose dial was answered 403 is not waited for (the exchange itself
 * fails only at its timeout, 10 s on `lan`).
 *
 * @module
 */
import type { TimerHandle } from "../../cluster/membership.ts";
import type { MemberContext } from "../context.ts";
import type { Network } from "../network.ts";
import { askRemoved } from "./ask_peers.ts";

/**
 * How long the members that have not answered a push-pull after the first one did are given
 * at least before they are asked whether this member was removed, ms.
 */
export const ASK_AFTER_FIRST_MIN_MS = 20;
/**
 * When no push-pull has been answered by then but a member refused this member's certificate,
 * every member not yet asked is, ms (at once, for a refusal heard later).
 */
export const ASK_WITHOUT_ANSWER_MS = 500;
/**
 * When no push-pull has been answered and no member refused this member's certificate by then,
 * every member not yet asked is, ms.
 */
export const ASK_SILENT_MS = 1500;

/** What a restart learned. */
export interface Learnt {
  /** Whether a member told of this member's removal (or its tombstone arrived). */
  removed: boolean;
  /** From the start until the first push-pull answer (or until all failed), ms. */
  pushPullMs: number;
  /** From the start until the removal was known, or every member was accounted for, ms. */
  removalMs: number;
  /** How many members were asked whether this member was removed. */
  asked: number;
  /**
   * When each push-pull was answered, ms from the start, in order: those answered after the
   * learning ended are added as they come (what asking instead of waiting for them saved).
   */
  answeredMs: number[];
}

/**
 * Push-pulls with every address of `seeds` (sharing the exchanges the gossip layer's start began)
 * and asks those that do not answer whether `name` was removed (a tombstone newer than `since`,
 * the version of its own admission record as it knows it); see the module docs.
 */
export function learnAtRestart(
  ctx: MemberContext,
  net: Network,
  seeds: readonly string[],
  name: string,
  since: number,
  identity: { cert: string; key: string; fingerprint: string },
): Promise<Learnt> {
  const clock = ctx.env.clock;
  const start = clock.now();
  return new Promise((resolve) => {
    /** Per address: push-pull under way, answered, asked (question under way), or settled. */
    const state = new Map<string, "pending" | "answered" | "asking" | "settled">();
    let pushPullMs: number | undefined;
    let failed = 0;
    let asked = 0;
    const answeredMs: number[] = [];
    let done = false;
    /** The members whose listener refused this member's certificate (their push-pull failed). */
    const refused = new Set<string>();
    /** {@link ASK_WITHOUT_ANSWER_MS} has passed: a refusal heard now asks every pending member. */
    let firstWaitOver = false;
    let timer: TimerHandle = clock.setTimeout(() => {
      firstWaitOver = true;
      if (refused.size) return askPending();
      timer = clock.setTimeout(askPending, ASK_SILENT_MS - ASK_WITHOUT_ANSWER_MS);
    }, ASK_WITHOUT_ANSWER_MS);
    const stopHearing = ctx.hearRefusals((address) => {
      if (done || state.get(address) !== "pending") return;
      refused.add(address);
      failed++;
      ask(address);
      if (firstWaitOver && pushPullMs === undefined) askPending();
      check();
    });
    const finish = (removed: boolean) => {
      if (done) return;
      done = true;
      stopHearing();
      clock.clearTimeout(timer);
      const now = clock.now() - start;
      resolve({ removed, pushPullMs: pushPullMs ?? now, removalMs: now, asked, answeredMs });
    };
    const check = () => {
      if (done) return;
      if (pushPullMs === undefined) {
        if (failed < seeds.length) return;
        pushPullMs = clock.now() - start; // every push-pull failed
      }
      for (const s of state.values()) if (s === "pending" || s === "asking") return;
      finish(false);
    };
    const ask = (address: string) => {
      state.set(address, "asking");
      asked++;
      void askRemoved(ctx, [address], name, since, identity).then((answer) => {
        if (answer === "removed") return finish(true);
        if (state.get(address) === "asking") state.set(address, "settled");
        check();
      });
    };
    function askPending() {
      if (done) return;
      for (const [address, s] of state) if (s === "pending") ask(address);
    }
    for (const address of seeds) {
      state.set(address, "pending");
      void net.gossip.join([address]).then((answers) => {
        if (answers > 0) answeredMs.push(clock.now() - start);
        if (done || refused.has(address)) return; // a refused one was counted as failed
        if (answers > 0) {
          state.set(address, "answered");
          if (pushPullMs === undefined) {
            pushPullMs = clock.now() - start;
            clock.clearTimeout(timer);
            timer = clock.setTimeout(askPending, Math.max(ASK_AFTER_FIRST_MIN_MS, pushPullMs));
          }
        } else {
          failed++;
          if (state.get(address) === "pending") ask(address);
        }
        check();
      });
    }
    check();
  });
}
