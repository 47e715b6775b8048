/**
 * The time source and timers a member runs on ({@link Clock}), injected so that a simulated
 * clock can drive many members deterministically, and the readings of its wall clock where a
 * date is meant ({@link wallNow}, {@link wallTime}). {@link systemClock} is the runtime's;
 * a daemon runs on `monotonic_clock.ts`, the gossip engine on `gossip/io_first_clock.ts`.
 *
 * @module
 */

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * Time source and timers. The engine never reads `Date.now` or calls `setTimeout` itself, so a
 * simulated clock can drive many members deterministically.
 */
export interface Clock {
  /**
   * Current time in milliseconds, for durations and deadlines: monotonic (a step of the wall
   * clock must not move it, or a suspicion held when the clock stepped forwards is declared
   * dead at once), near the epoch's ms when {@link wallOffset} is absent.
   */
  now(): number;
  /**
   * How far the wall clock is ahead of {@link now}, ms: `now() + wallOffset()` is the wall
   * clock's time (ms since the epoch), where a date is meant: replicated records' versions and
   * expiry, the heartbeats and state changes a member reports. Changes only when the wall clock
   * steps, so a time reported twice is the same date twice. Absent: {@link now} is both (a
   * simulated clock, or {@link systemClock}, which is the wall clock).
   */
  wallOffset?(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a no-op for a timer that fired or was cancelled. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * `clock`'s time `t` (its {@link Clock.now}) as a date of its wall clock: the same when the clock
 * has no separate wall clock, else `t` moved by how far the wall clock is from it now (after a
 * step of the wall clock, a time before the step is dated as long before the wall clock's now
 * as it really was). `0` (never) stays `0`.
 */
export function wallTime(clock: Clock, t: number): number {
  return clock.wallOffset && t !== 0 ? t + clock.wallOffset() : t;
}

/**
 * `clock`'s wall clock now, ms since the epoch: where a date is meant (a token's expiry, a
 * member's `joinedAt`, a removal note's `expiresAt`, anything stored or sent to another member).
 * {@link Clock.now} itself when the clock has no separate wall clock (a simulated one).
 */
export function wallNow(clock: Clock): number {
  return clock.wallOffset ? clock.now() + clock.wallOffset() : clock.now();
}

/** `clock` reading its wall clock as `now` (itself when it has none), timers unchanged. */
export function wallClockOf(clock: Clock): Clock {
  if (!clock.wallOffset) return clock;
  return {
    now: () => clock.now() + clock.wallOffset!(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h),
  };
}

/**
 * The wall clock: `Date.now` and the runtime's timers, unref'd so they never keep a process up.
 * A step of the wall clock (NTP, `date -s`, a VM resumed) moves what is measured on it: the
 * gossip engine runs on `gossip/io_first_clock.ts` and a daemon on `monotonicClock`
 * (`lib/cluster/monotonic_clock.ts`), whose `now` is monotonic.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms) as unknown as { unref?: () => void };
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
