/**
 * Lifeguard's suspicion timer: it starts at a maximum and shrinks with each independent
 * confirmation, so a member many others suspect is declared dead quickly while a lone,
 * possibly unhealthy accuser waits long enough for the accused to refute.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../lib/cluster/clock.ts";

/**
 * The timeout after `confirmations` independent confirmations out of `k` expected:
 * `max − (max − min) · ln(c + 1) / ln(k + 1)`, never below `min` (memberlist's
 * remainingSuspicionTime). With `k < 1` the timeout is `min`.
 */
export function suspicionDeadline(
  confirmations: number,
  k: number,
  minMs: number,
  maxMs: number,
): number {
  if (k < 1) return minMs;
  const frac = Math.log(confirmations + 1) / Math.log(k + 1);
  const raw = maxMs - frac * (maxMs - minMs);
  // Whole milliseconds, like memberlist, so simulated runs match the derived table exactly.
  const t = Math.floor(raw);
  return t < minMs ? minMs : t;
}

/** Confirmations expected before the timeout reaches `min`: `mult − 2`, or 0 in tiny clusters. */
export function expectedConfirmations(suspicionMult: number, n: number): number {
  const k = suspicionMult - 2;
  // Fewer than k other members could ever confirm: do not wait for them.
  return n - 2 < k ? 0 : k;
}

/** A running suspicion of one member. */
export class Suspicion {
  readonly #clock: Clock;
  readonly #k: number;
  readonly #min: number;
  readonly #max: number;
  readonly #start: number;
  readonly #onTimeout: (confirmations: number) => void;
  /** Members that already accused (the first accuser included); only new ones count. */
  readonly #confirmers = new Set<string>();
  #timer: TimerHandle | undefined;
  #fired = false;

  /**
   * Starts the timer at `max` (or `min` when `k < 1`). `from` is the first accuser, who does
   * not count as a confirmation.
   */
  constructor(
    clock: Clock,
    from: string,
    k: number,
    minMs: number,
    maxMs: number,
    onTimeout: (confirmations: number) => void,
  ) {
    this.#clock = clock;
    this.#k = k;
    this.#min = minMs;
    this.#max = maxMs;
    this.#start = clock.now();
    this.#onTimeout = onTimeout;
    this.#confirmers.add(from);
    this.#arm(k < 1 ? minMs : maxMs);
  }

  /** Independent confirmations so far. */
  get confirmations(): number {
    return this.#confirmers.size - 1;
  }

  /** Absolute clock time at which the suspicion expires. */
  deadline = 0;

  /**
   * Records an accusation from `from`. Returns `true` when it is a new confirmation (the
   * caller re-gossips it), `false` for a repeat or once enough confirmations arrived.
   */
  confirm(from: string): boolean {
    if (this.#fired || this.#confirmers.size - 1 >= this.#k) return false;
    if (this.#confirmers.has(from)) return false;
    this.#confirmers.add(from);
    const total = suspicionDeadline(this.confirmations, this.#k, this.#min, this.#max);
    this.#arm(total);
    return true;
  }

  /**
   * Called from the timeout instead of declaring the member dead: fires again `ms` later,
   * but never past the suspicion's longest timeout (`max` after its start). Returns `false`
   * (and arms nothing) when that is already reached.
   */
  defer(ms: number): boolean {
    const latest = this.#start + this.#max;
    const now = this.#clock.now();
    if (now >= latest) return false;
    this.#fired = false;
    this.#arm(Math.min(now + ms, latest) - this.#start);
    return true;
  }

  /** Cancels the timer (the member refuted, or was declared dead another way). */
  cancel(): void {
    this.#fired = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(totalMs: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.deadline = this.#start + totalMs;
    const remaining = this.deadline - this.#clock.now();
    const fire = () => {
      if (this.#fired) return;
      this.#fired = true;
      this.#timer = undefined;
      this.#onTimeout(this.confirmations);
    };
    // A confirmation that lands past the new deadline fires at once.
    this.#timer = this.#clock.setTimeout(fire, remaining > 0 ? remaining : 0);
  }
}
