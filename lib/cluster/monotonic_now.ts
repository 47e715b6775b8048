/**
 * A clock for durations that a step of the wall clock never moves.
 *
 * `Date.now()` is the wall clock: NTP stepping a drifted clock, `date -s`, a VM resumed after
 * hours or a laptop waking move it by minutes or hours at once, forwards or back. A duration
 * measured on it (a bucket's refill, an idle connection's age, a pause's end, a redial's
 * spacing, a join's deadline, a claim round's) then comes out as minutes, or negative: after a
 * step back of 10 min, a rate bucket that refills only while time moves forwards stays empty for
 * those 10 min; after a step forwards, a join admitted a second before is "under way" for 10 min.
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

/**
 * A step of the wall clock smaller than this (ms) is not followed by {@link wallOffsetNow}: the
 * two clocks are read one after the other, each rounded down to the ms, so their difference
 * wobbles by a ms or so (a stopped member's last heartbeat must stay one date), and a loaded
 * machine may run something else between the two reads.
 */
const WALL_STEP_MS = 1_000;
let wallOffset = Date.now() - monotonicNow();

/**
 * How far the wall clock is ahead of {@link monotonicNow}, ms: `monotonicNow() + wallOffsetNow()`
 * is the wall clock's time. Follows a step of the wall clock (of {@link WALL_STEP_MS} or more)
 * at the first call after it; one value for the whole process, so every clock built on it dates
 * alike.
 */
export function wallOffsetNow(): number {
  const offset = Date.now() - monotonicNow();
  if (Math.abs(offset - wallOffset) >= WALL_STEP_MS) wallOffset = offset;
  return wallOffset;
}
