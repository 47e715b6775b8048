/**
 * A clock for durations that a step of the wall clock never moves.
 *
 * `Date.now()` is the wall clock: NTP stepping a drifted clock, `date -s`, a VM resumed after
 * hours or a laptop waking move it by minutes or hours at once, forwards or back. A duration
 * measured on it (a bucket's refill, an idle connection's age, a pause's end, a redial's
 * spacing) then comes out as minutes, or negative: after a step back of 10 min, a rate bucket
 * that refills only while time moves forwards stays empty for those 10 min.
 *
 * @module
 */

const origin = performance.timeOrigin;

/**
 * Whole milliseconds on a monotonic clock: the wall time at which the process started plus the
 * monotonic time since (`performance.timeOrigin + performance.now()`, rounded down as
 * `Date.now()` is). Close to `Date.now()` until the wall clock steps, then apart by the step;
 * never goes back. For durations and deadlines inside this process only: a date shown, stored or
 * sent to another member is the wall clock's (`Date.now()`).
 */
export function monotonicNow(): number {
  return Math.floor(origin + performance.now());
}
