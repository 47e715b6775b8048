/**
 * The clock a daemon runs on (`lib/daemon/environment.ts`): durations and deadlines on the
 * monotonic clock, dates on the wall clock, and timers that judge fairly after a held loop.
 *
 * @module
 */
import { type Clock, type TimerHandle } from "./clock.ts";
import { monotonicNow, wallOffsetNow } from "./monotonic_now.ts";
import { type Deadline, deadlineIn } from "../net/late_deadline.ts";

/** Whether `handle` is one of {@link monotonicClock}'s timers. */
function isDeadline(handle: TimerHandle): handle is Deadline {
  return typeof (handle as Partial<Deadline> | undefined)?.clear === "function";
}

/**
 * The system's clock for a process that measures durations: `now` is {@link monotonicNow} (a
 * step of the wall clock, NTP or `date -s` or a VM resumed, moves no deadline), `wallOffset`
 * is {@link wallOffsetNow} (where a date is meant: `wallNow(clock)` in
 * `lib/cluster/clock.ts`).
 *
 * Its timers are `deadlineIn`'s (`lib/net/late_deadline.ts`; unref'd): one that runs clearly
 * late (the loop was held: a member stopped with SIGSTOP and continued, a VM paused, swapping)
 * calls back only after one short look at the sockets. A held loop runs its expired timers
 * before it reads what arrived meanwhile, and a daemon's timers are mostly verdicts on what
 * has not arrived: a claim round refused a joiner whose grants waited unread, a start decided
 * without the members' state waiting on its sockets, a removal counted as not forced before its
 * note was read. A timer met on time calls back at once, as the runtime's does. `clearTimeout`
 * ignores a handle that is not one of its timers (`undefined`, another clock's).
 */
export const monotonicClock: Clock = Object.freeze({
  now: monotonicNow,
  wallOffset: wallOffsetNow,
  setTimeout: (fn: () => void, ms: number): TimerHandle => deadlineIn(ms, fn),
  clearTimeout: (handle: TimerHandle): void => {
    if (isDeadline(handle)) handle.clear();
  },
});
