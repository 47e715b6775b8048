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
 * are asked. Each question is a TLS connection of its own beside the push-pull's (issue 15's
 * wake-up: 9 of each at N=10), so:
 *
 * - a member whose push-pull failed, or whose gossip listener refused this member's certificate
 *   (a 403 to its dial: it no longer trusts it, which for a member that had admitted it means a
 *   removal), is asked at once: its push-pull cannot be answered;
 * - the others, neither answered nor refused, are asked {@link ASK_WITHOUT_ANSWER_MS} after the
 *   start at the earliest: at that moment (or at once, if later) once a member refused this one;
 *   else once the push-pulls had as long again as the first answer took; else, while no member
 *   answered or refused, at {@link ASK_SILENT_MS}.
 *
 * Silence alone is what a loaded machine looks like, not a removal: a member holding this one's
 * tombstone refuses its dial as soon as it handles it, when it would otherwise have answered.
 * On a busy 2-core machine the first answer came after 900 ms, and asking at 500 ms opened a
 * TLS connection more to each of 9 members for nothing; a first answer that came at once (23
 * ms) had the 8 others asked 23 ms later, their answers on the way. A removed member still
 * learns it one question after the first refusal (the members neither answered nor refused
 * asked with it, or at {@link ASK_WITHOUT_ANSWER_MS}, as before), and, when no member answers
 * or refuses at all (their listeners hung, or dropping its frames), within
 * {@link ASK_SILENT_MS} and one question's round trip of its start (before: 500 ms). A member
 * that hangs while others answered is asked at {@link ASK_WITHOUT_ANSWER_MS} at the earliest
 * (before: at twice the first answer's time).
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
import type { TimerHandle } from "../../cluster/clock.ts";
import type { MemberContext } from "../context.ts";
import type { Network } from "../network.ts";
import { askRemoved } from "./ask_peers.ts";

/**
 * How long after the start the members that neither answered a push-pull nor refused this
 * member's certificate are asked at the earliest whether this member was removed, ms.
 */
export const ASK_WITHOUT_ANSWER_MS = 500;
/**
 * When, while no member answered a push-pull or refused this member's certificate, every member
 * not yet asked is, ms after the start.
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
    /** When the members neither answered nor refused are asked, ms after the start. */
    const askAt = () =>
      refused.size
        ? ASK_WITHOUT_ANSWER_MS
        : pushPullMs !== undefined
        ? Math.max(ASK_WITHOUT_ANSWER_MS, 2 * pushPullMs)
        : ASK_SILENT_MS;
    let timer: TimerHandle | undefined;
    /** (Re)sets the questions' timer: at the start, at the first answer, at each refusal. */
    const schedule = () => {
      clock.clearTimeout(timer);
      timer = clock.setTimeout(askPending, Math.max(0, start + askAt() - clock.now()));
    };
    const stopHearing = ctx.hearRefusals((address) => {
      if (done || state.get(address) !== "pending") return;
      refused.add(address);
      failed++;
      ask(address);
      schedule();
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
    schedule();
    for (const address of seeds) {
      state.set(address, "pending");
      void net.gossip.join([address]).then((answers) => {
        if (answers > 0) answeredMs.push(clock.now() - start);
        if (done || refused.has(address)) return; // a refused one was counted as failed
        if (answers > 0) {
          state.set(address, "answered");
          if (pushPullMs === undefined) {
            pushPullMs = clock.now() - start;
            schedule();
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
