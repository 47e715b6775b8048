/**
 * Counts of an event per key (a sender's certificate) reported in log lines at most once per key
 * per interval: the first at once, the ones after it as one count once the interval has passed.
 * A member under attack logs a line per offender every {@link RATE_LOG_MS}, not one per frame
 * or connection.
 *
 * @module
 */
import { monotonicNow } from "../lib/cluster/monotonic_now.ts";
import { RATE_LOG_MS } from "./frame_rate.ts";

/** Events per key since the key's last line, and when that line was (the injected clock's ms). */
export class CountedLog {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #notes = new Map<string, { count: number; loggedAt: number }>();

  /**
   * @param intervalMs least time between two lines of one key, ms (default {@link RATE_LOG_MS})
   * @param now the clock, ms (default {@link monotonicNow}: a step of the wall clock neither
   *   silences the lines nor lets them flood)
   */
  constructor(intervalMs: number = RATE_LOG_MS, now: () => number = monotonicNow) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /**
   * Notes `n` events of `key`. Returns how many to report in a line now (those since the key's
   * last line), or 0 while that line is younger than the interval: the rest is reported by a
   * later call or by {@link due}.
   */
  add(key: string, n: number): number {
    const now = this.#now();
    const note = this.#notes.get(key) ?? { count: 0, loggedAt: -Infinity };
    this.#notes.set(key, note);
    note.count += n;
    if (now - note.loggedAt < this.#intervalMs) return 0;
    const count = note.count;
    note.count = 0;
    note.loggedAt = now;
    return count;
  }

  /**
   * The events not reported yet of keys whose last line is an interval old, as `[key, count]`;
   * keys with nothing left to report are forgotten.
   */
  due(): [string, number][] {
    const now = this.#now();
    const out: [string, number][] = [];
    for (const [key, note] of this.#notes) {
      if (now - note.loggedAt < this.#intervalMs) continue;
      this.#notes.delete(key);
      if (note.count > 0) out.push([key, note.count]);
    }
    return out;
  }
}
