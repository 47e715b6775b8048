/**
 * The merges of full states that wait for a later turn of the event loop: a state full of
 * claims new to us costs one signature check each, and beyond {@link MERGE_CHECKS} of them the
 * rest of the state waits, so probes are answered meanwhile. What waits is bounded per sender
 * and in all ({@link MERGE_WAITING_MIN}, {@link MERGE_WAITING_SENDERS}).
 *
 * @module
 */
import type { Clock, TimerHandle } from "../lib/cluster/clock.ts";
import type { StateEntry } from "./messages.ts";

/**
 * Signature checks one merge makes in one turn of the event loop; the rest of the state waits
 * for the next turn (≈ 1 ms under Node, 6 ms under Deno).
 */
export const MERGE_CHECKS = 8;

/**
 * Entries of deferred merges (see {@link MERGE_CHECKS}) one sender may have waiting, at least;
 * the bound is twice the member table's slots when that is more. An honest push-pull carries at
 * most the sender's view of the table, so two of them fit; beyond, a state waiting only repeats
 * what the next exchange brings again. A member's certificate could otherwise have states held
 * without bound: a frame opening with a few claims that must be checked (badly signed ones are
 * checked until the sender's failure budget is spent) defers the rest of its state, however
 * large, and frames read in one burst were all kept before the first of them was merged.
 */
export const MERGE_WAITING_MIN = 1024;
/** Entries of deferred merges all senders together may have waiting, in senders' bounds. */
export const MERGE_WAITING_SENDERS = 8;

/** The rest of one merge, waiting for a later turn: its entries from `start` on. */
export interface DeferredMerge {
  /** The whole state being merged. */
  entries: readonly StateEntry[];
  /** The index of the first entry not merged yet. */
  start: number;
  /** The member the transport authenticated for the state, if any. */
  sender: string | undefined;
  /** Whether the state is the admitting member's view handed at our join. */
  trusted: boolean;
}

/**
 * The merges waiting for a later turn, in order, and the timer that runs the next: one per
 * turn, each continued by `run` (which may defer its rest again).
 */
export class MergeQueue {
  readonly #clock: Clock;
  readonly #run: (merge: DeferredMerge) => void;
  /** Merges waiting for a later turn, in order, and the timer that runs the next. */
  readonly #merging: DeferredMerge[] = [];
  #mergeTimer: TimerHandle | undefined;
  /** Entries of the merges waiting, by sender (`""`: none named), and in all. */
  readonly #mergingBySender = new Map<string, number>();
  #mergingEntries = 0;

  /** `run`: continues a merge at its `start` (called from a timer of `clock`, one per turn). */
  constructor(clock: Clock, run: (merge: DeferredMerge) => void) {
    this.#clock = clock;
    this.#run = run;
  }

  /**
   * Continues a merge at `start` on a later turn (after the merges already waiting). `slots`:
   * the member table's slots (the per-sender bound is twice that, at least
   * {@link MERGE_WAITING_MIN}). Returns `false` when the rest was dropped instead: too many
   * entries waiting.
   */
  defer(
    entries: readonly StateEntry[],
    start: number,
    sender: string | undefined,
    trusted: boolean,
    slots: number,
  ): boolean {
    const count = entries.length - start;
    const key = sender ?? "";
    const mine = this.#mergingBySender.get(key) ?? 0;
    const bound = Math.max(MERGE_WAITING_MIN, 2 * slots);
    if (mine + count > bound || this.#mergingEntries + count > MERGE_WAITING_SENDERS * bound) {
      return false;
    }
    this.#mergingBySender.set(key, mine + count);
    this.#mergingEntries += count;
    this.#merging.push({ entries, start, sender, trusted });
    this.#mergeTimer ??= this.#clock.setTimeout(() => this.#mergeNext(), 0);
    return true;
  }

  /** Runs the first waiting merge (as far as one turn allows), then schedules the next. */
  #mergeNext(): void {
    this.#mergeTimer = undefined;
    const next = this.#merging.shift();
    if (next) {
      // Its rest, should it wait again, is smaller than what it held: it is never dropped.
      const key = next.sender ?? "";
      const left = (this.#mergingBySender.get(key) ?? 0) - (next.entries.length - next.start);
      if (left > 0) this.#mergingBySender.set(key, left);
      else this.#mergingBySender.delete(key);
      this.#mergingEntries -= next.entries.length - next.start;
      this.#run(next);
    }
    if (this.#merging.length > 0) {
      this.#mergeTimer ??= this.#clock.setTimeout(() => this.#mergeNext(), 0);
    }
  }

  /** Merges waiting for a later turn. */
  get waiting(): number {
    return this.#merging.length;
  }

  /** Entries of the merges waiting for a later turn, in all. */
  get entriesWaiting(): number {
    return this.#mergingEntries;
  }

  /** Cancels the timer and drops every waiting merge (engine stop). */
  clear(): void {
    if (this.#mergeTimer !== undefined) this.#clock.clearTimeout(this.#mergeTimer);
    this.#mergeTimer = undefined;
    this.#merging.length = 0;
    this.#mergingBySender.clear();
    this.#mergingEntries = 0;
  }
}
