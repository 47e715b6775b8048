/**
 * A simulated clock for tests and simulations: time moves only when the driver advances it,
 * and timers fire in (time, creation) order from a binary heap, so a run is deterministic and
 * a thousand members cost only their events.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../lib/cluster/clock.ts";

/** One scheduled call. `arg` lets hot paths schedule without allocating a closure. */
interface Entry {
  at: number;
  seq: number;
  fn: ((arg: unknown) => void) | null;
  arg: unknown;
}

/** A {@link Clock} driven by {@link SimClock.advance} / {@link SimClock.runUntil}. */
export class SimClock implements Clock {
  #now: number;
  #seq = 0;
  #heap: Entry[] = [];
  #cancelled = 0;
  /**
   * When set, every timer callback (a message delivery, a probe round, …: one turn of a
   * member's event loop) runs through it, for benchmarks and tests that look at what one turn
   * does (its CPU time, the signatures it checked).
   */
  around: ((turn: () => void) => void) | undefined;
  /** Errors thrown by timer callbacks are passed here (default: rethrown after the step). */
  onError: (err: unknown) => void = (err) => {
    throw err;
  };

  /** Starts at `startMs` (default 0). */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  /** Current simulated time in ms. */
  now(): number {
    return this.#now;
  }

  /** Number of pending timers (cancelled ones excluded). */
  get pending(): number {
    return this.#heap.length - this.#cancelled;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.schedule(ms, fn as (arg: unknown) => void, undefined);
  }

  /** Schedules `fn(arg)` after `ms` (clamped at 0). Returns the cancellable handle. */
  schedule<A>(ms: number, fn: (arg: A) => void, arg: A): TimerHandle {
    const entry: Entry = {
      at: this.#now + (ms > 0 ? ms : 0),
      seq: this.#seq++,
      fn: fn as (arg: unknown) => void,
      arg,
    };
    this.#push(entry);
    return entry;
  }

  clearTimeout(handle: TimerHandle): void {
    const entry = handle as Entry | undefined;
    if (!entry || entry.fn === null) return;
    entry.fn = null;
    entry.arg = undefined;
    this.#cancelled++;
    // Cancelled entries are skipped lazily; rebuild when they dominate so memory stays bounded.
    if (this.#cancelled > 1024 && this.#cancelled * 2 > this.#heap.length) this.#compact();
  }

  /** Runs every timer due up to `now + ms`, then sets the time to `now + ms`. */
  advance(ms: number): void {
    this.runUntil(this.#now + ms);
  }

  /** Runs every timer due up to `until` (inclusive), then sets the time to `until`. */
  runUntil(until: number): void {
    // Re-read the heap each step: a callback may compact it.
    while (this.#heap.length > 0 && this.#heap[0].at <= until) {
      const entry = this.#pop();
      const fn = entry.fn;
      if (fn === null) {
        this.#cancelled--;
        continue;
      }
      entry.fn = null;
      if (entry.at > this.#now) this.#now = entry.at;
      const arg = entry.arg;
      try {
        if (this.around) this.around(() => fn(arg));
        else fn(arg);
      } catch (err) {
        this.onError(err);
      }
    }
    if (until > this.#now) this.#now = until;
  }

  /**
   * Advances in steps of `stepMs` until `done()` holds or `maxMs` passed; returns the time
   * spent (ms), or `-1` when `done()` never held.
   */
  runWhileNot(done: () => boolean, maxMs: number, stepMs = 10): number {
    const start = this.#now;
    while (!done()) {
      if (this.#now - start >= maxMs) return -1;
      this.advance(stepMs);
    }
    return this.#now - start;
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(entry, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): Entry {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && less(heap[r], heap[l]) ? r : l;
        if (!less(heap[c], last)) break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }

  #compact(): void {
    const live = this.#heap.filter((e) => e.fn !== null);
    // A sorted array is a valid binary heap: rebuild in O(n log n), in place.
    live.sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.#heap.length = 0;
    for (const e of live) this.#heap.push(e);
    this.#cancelled = 0;
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
