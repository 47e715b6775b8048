/**
 * The clock a daemon runs on (`lib/daemon/environment.ts`): durations and deadlines on the
 * monotonic clock, dates on the wall clock.
 *
 * @module
 */
import { type Clock, systemClock } from "./membership.ts";
import { monotonicNow, wallOffsetNow } from "./monotonic_now.ts";

/**
 * The system's clock for a process that measures durations: `now` is {@link monotonicNow} (a
 * step of the wall clock, NTP or `date -s` or a VM resumed, moves no deadline), `wallOffset`
 * is {@link wallOffsetNow} (where a date is meant: `wallNow(clock)` in
 * `lib/cluster/membership.ts`), and the timers are {@link systemClock}'s (the runtime's, which
 * run on a monotonic clock already; unref'd).
 */
export const monotonicClock: Clock = Object.freeze({
  now: monotonicNow,
  wallOffset: wallOffsetNow,
  setTimeout: systemClock.setTimeout,
  clearTimeout: systemClock.clearTimeout,
});
