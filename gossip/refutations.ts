/**
 * How often each member refuted our suspicions of it lately: the evidence behind the longer
 * suspicion timeouts of a member suspected again and again (the multiplier of
 * `Accusations`, `state_accusations.ts`).
 *
 * Each episode of refutations ({@link REFUTATION_EPISODE_MS}) adds one to the member's count,
 * and each {@link REFUTED_DECAY_MS} without one takes one off. A member behind a lossy path,
 * suspected every 20 to 40 s, keeps a count that grows; a member that refuted once or twice
 * while the cluster formed (a stall while it joined) and then stayed quiet for half a minute or
 * more is back to none, and a real stop of it is declared as fast as any other's. (The count this replaced was held whole for a minute
 * after the last refutation: at N=50 a member suspected while forming and stopped 35 to 56 s
 * later was declared dead 2 to 3 times later than a member nobody had suspected.)
 *
 * @module
 */

/**
 * How long one refutation lengthens our next suspicions of its member (ms): the member's count
 * drops by one for each such time since the last refutation counted. Short enough that a refutation
 * from a cluster's formation no longer counts when the member stops half a minute later
 * (`scripts/bench/stop_after_refute.ts`); long enough that false `dead` verdicts under 30 %
 * TCP-like loss stay as few as with the minute-long window it replaced
 * (`scripts/faults/sim_loss.ts`).
 */
export const REFUTED_DECAY_MS = 30_000;

/**
 * Refutations of one member closer than this (ms) count once: one stall of a member (an event
 * loop blocked while joiners are admitted) is often suspected by a second prober as soon as the
 * first suspicion is refuted, and refuted twice. Counted twice, a stall while the cluster formed
 * lengthened the timeouts of a real stop 35–45 s later; under 30 % TCP-like loss, counting
 * episodes leaves false `dead` verdicts as they were (`scripts/faults/sim_loss.ts`).
 */
export const REFUTATION_EPISODE_MS = 10_000;

/** Refutation counts by member name, bounded in size. */
export class Refutations {
  readonly #max: number;
  readonly #cap: number;
  /** Count and time (ms) of the last refutation counted, by name, oldest note first. */
  readonly #notes = new Map<string, { count: number; at: number }>();

  /**
   * `maxNames`: names held at most (the oldest note goes first); `maxCount`: the highest count
   * kept (more than the multiplier can use would only keep it up longer).
   */
  constructor(maxNames: number, maxCount: number) {
    this.#max = maxNames;
    this.#cap = maxCount;
  }

  /** The refutations of `name` that still count at `now` (ms). */
  count(name: string, now: number): number {
    const r = this.#notes.get(name);
    if (!r) return 0;
    const left = r.count - Math.floor((now - r.at) / REFUTED_DECAY_MS);
    if (left > 0) return left;
    this.#notes.delete(name);
    return 0;
  }

  /**
   * `name` refuted a suspicion or verdict we held, at `now` (ms). A refutation within
   * {@link REFUTATION_EPISODE_MS} of the one counted last belongs to the same episode and adds
   * nothing.
   */
  note(name: string, now: number): void {
    const last = this.#notes.get(name);
    if (last && now - last.at < REFUTATION_EPISODE_MS) return;
    const count = Math.min(this.count(name, now) + 1, this.#cap);
    this.#notes.delete(name);
    if (this.#notes.size >= this.#max) this.#notes.delete(this.#notes.keys().next().value!);
    this.#notes.set(name, { count, at: now });
  }
}
