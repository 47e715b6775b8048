/**
 * Paces the digest exchanges a member opens with many peers at once (after it changed the
 * roster: an admission, a removal). Opened all in one turn, the N−1 exchanges of an admission in
 * an N-member cluster cost the admitting member N−1 digests and sends in that turn, and their
 * N−1 answers (each the peer's full state and records when its tables differ, as they often do
 * while a cluster forms) arrive together, one admission after another: at N=50 under load the
 * admitting member's event loop was held for seconds, past the probe timeout, and it was
 * suspected. Here at most {@link SYNCS_PER_INTERVAL} exchanges open per gossip interval, so the
 * work an admission adds to any turn is bounded whatever N, and every address is still asked
 * (within ⌈(N−1) / {@link SYNCS_PER_INTERVAL}⌉ intervals: 2.5 s at N=50 on `lan`, against the
 * periodic push-pull's 60 s). An address asked for again while it waits keeps its place: a
 * burst of admissions costs each peer one exchange, not one per admission.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../lib/cluster/clock.ts";

/** Most digest exchanges {@link SyncQueue} opens per interval. */
export const SYNCS_PER_INTERVAL = 4;

/** A queue of addresses to exchange digests with, opened a few per interval. */
export class SyncQueue {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #open: (address: string) => void;
  /** Addresses waiting, in the order asked (a `Set` keeps insertion order). */
  readonly #waiting = new Set<string>();
  #timer: TimerHandle | undefined;

  /**
   * `intervalMs`: the pace (the gossip interval: the first exchanges open one interval after
   * they are asked for, once the bursts of what was just queued went out); `open`: starts the
   * digest exchange with one address.
   */
  constructor(clock: Clock, intervalMs: number, open: (address: string) => void) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#open = open;
  }

  /** Addresses waiting for their exchange. */
  get size(): number {
    return this.#waiting.size;
  }

  /** Queues an exchange with each of `addresses` not already waiting. */
  add(addresses: Iterable<string>): void {
    for (const a of addresses) this.#waiting.add(a);
    this.#arm();
  }

  /** Forgets every waiting address; nothing opens after this. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.clear();
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#waiting.size === 0) return;
    this.#timer = this.#clock.setTimeout(this.#turn, this.#intervalMs);
  }

  readonly #turn = (): void => {
    this.#timer = undefined;
    let n = 0;
    for (const a of this.#waiting) {
      if (n++ >= SYNCS_PER_INTERVAL) break;
      this.#waiting.delete(a);
      this.#open(a);
    }
    this.#arm();
  };
}
