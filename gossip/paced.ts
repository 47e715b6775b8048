/**
 * Work that may come in bursts, run at most so many items per interval: an item that arrives
 * with budget left in the current interval runs at once; the others wait, in order, for the
 * next intervals, and beyond a bound they are refused. Push-pull answers go through it: when
 * the members of a cluster all open an exchange with one member at once (each held it dead and
 * just heard from it, or each was asked by it), that member merged and answered every full
 * state in one stretch, holding its event loop for seconds at N=50 under load, past the probe
 * timeout; so it was held dead again, and the next exchanges came. Memberlist bounds the same
 * burst by refusing push-pulls beyond 128 pending.
 *
 * Waiting items hold what they carry (a push-pull opening, its message: up to a frame), so the
 * queue is bounded in size as well as in count ({@link PacedLimits.maxWaitingSize}): without it,
 * members' certificates sending large openings made a member hold the most waiting items times
 * the frame limit (256 × 1 MiB).
 *
 * @module
 */
import type { Clock, TimerHandle } from "../lib/cluster/clock.ts";

/** The bounds of a {@link Paced} queue. */
export interface PacedLimits {
  /** The interval, ms. */
  readonly intervalMs: number;
  /** Items run per interval. */
  readonly perInterval: number;
  /** Items waiting at most; one more is refused. */
  readonly maxWaiting: number;
  /**
   * Total size of the items waiting at most, in the unit of the `size` function given to
   * {@link Paced} (push-pull openings: JSON chars); an item that would take the total beyond it
   * is refused. An item that runs at once is not counted. @default Infinity
   */
  readonly maxWaitingSize?: number;
}

/** Runs items of type `T` at most {@link PacedLimits.perInterval} per interval. */
export class Paced<T> {
  readonly #clock: Clock;
  readonly #limits: PacedLimits;
  readonly #run: (item: T) => void;
  readonly #size: (item: T) => number;
  #waiting: { item: T; size: number }[] = [];
  #waitingSize = 0;
  #windowStart = -Infinity;
  #used = 0;
  /** Time spent running the current interval's items (see {@link Paced.#refresh}). */
  #busy = 0;
  #timer: TimerHandle | undefined;

  /**
   * `run`: does one item's work; it must not throw (a waiting item runs from a timer, where
   * nobody would catch it). `size`: what an item holds, asked only of an item that must wait
   * (default 0: only the count bounds the queue).
   */
  constructor(
    clock: Clock,
    limits: PacedLimits,
    run: (item: T) => void,
    size: (item: T) => number = () => 0,
  ) {
    this.#clock = clock;
    this.#limits = limits;
    this.#run = run;
    this.#size = size;
  }

  /** Items waiting. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Total size of the items waiting (see {@link PacedLimits.maxWaitingSize}). */
  get waitingSize(): number {
    return this.#waitingSize;
  }

  /**
   * Runs `item` now when the interval has budget left and nothing waits, else queues it.
   * Returns `false` when it was refused (the queue is full, in count or in size).
   */
  push(item: T): boolean {
    this.#refresh();
    if (this.#waiting.length === 0 && this.#used < this.#limits.perInterval) {
      this.#used++;
      this.#timed(item);
      return true;
    }
    if (this.#waiting.length >= this.#limits.maxWaiting) return false;
    const size = this.#size(item);
    if (this.#waitingSize + size > (this.#limits.maxWaitingSize ?? Infinity)) return false;
    this.#waiting.push({ item, size });
    this.#waitingSize += size;
    this.#arm();
    return true;
  }

  /** Drops every waiting item; nothing runs after this. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting = [];
    this.#waitingSize = 0;
  }

  /**
   * Starts a new interval's budget once an interval has passed beside the time its items took
   * to run. Counted from the interval's start alone, items that take long (a loaded machine,
   * large items) outlasted the interval themselves, and the next ones arriving in the same turn
   * of the event loop ran at once with a fresh budget, all in one stretch: a real member at
   * load 30 took 25–50 ms to merge and answer one push-pull opening of 700 000 chars, so four
   * outlast the 100 ms interval of the `local` preset.
   */
  #refresh(): void {
    const now = this.#clock.now();
    if (now - this.#windowStart - this.#busy >= this.#limits.intervalMs) {
      this.#windowStart = now;
      this.#used = 0;
      this.#busy = 0;
    }
  }

  #timed(item: T): void {
    const start = this.#clock.now();
    this.#run(item);
    this.#busy += this.#clock.now() - start;
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const end = this.#windowStart + this.#busy + this.#limits.intervalMs;
    this.#timer = this.#clock.setTimeout(this.#next, Math.max(0, end - this.#clock.now()));
  }

  readonly #next = (): void => {
    this.#timer = undefined;
    this.#refresh();
    const batch = this.#waiting.splice(0, this.#limits.perInterval - this.#used);
    this.#used += batch.length;
    for (const w of batch) this.#waitingSize -= w.size;
    if (this.#waiting.length) this.#arm();
    // When the batch takes time, the timer armed above fires early, finds the budget spent and
    // arms again for the interval's new end.
    for (const w of batch) this.#timed(w.item);
  };
}
