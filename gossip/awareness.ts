/**
 * Lifeguard's local health multiplier: a member that misses its own deadlines (missing nacks,
 * having to refute) trusts itself less, so it probes more slowly and accuses more slowly.
 *
 * @module
 */

/** Local health score in [0, max − 1]; 0 is healthy. */
export class Awareness {
  readonly #max: number;
  #score = 0;

  /** `max` is the exclusive upper bound of the multiplier (config `awarenessMaxMultiplier`). */
  constructor(max: number) {
    this.#max = max;
  }

  /** Current score. */
  get score(): number {
    return this.#score;
  }

  /** Adds `delta` (negative after a successful probe), clamped to the valid range. */
  apply(delta: number): number {
    const next = this.#score + delta;
    this.#score = next < 0 ? 0 : next > this.#max - 1 ? this.#max - 1 : next;
    return this.#score;
  }

  /** Scales a timeout by `score + 1`. */
  scale(ms: number): number {
    return ms * (this.#score + 1);
  }
}
