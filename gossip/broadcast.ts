/**
 * The transmit-limited broadcast queue: updates waiting to be piggybacked on probes or pushed
 * by gossip. Each update goes out at most `limit` times; the least-transmitted (newest) go
 * first; a newer update about a member replaces the queued one.
 *
 * Items sit in buckets by transmit count, each ordered by age, so taking a message's worth
 * costs O(items taken + stale skipped), not a sort of the whole queue: with 1000 members
 * joining at once a queue holds 1000 items and every probe message takes a few.
 *
 * @module
 */
import { updateSize } from "./update_size.ts";
import type { Update } from "./messages.ts";

interface Item {
  readonly key: string;
  readonly update: Update;
  readonly size: number;
  /** Queue order: higher is newer. */
  readonly id: number;
  transmits: number;
  /** Copies sent to the member the update is about (they tell no one else: not counted). */
  toSubject: number;
  /** Transmissions allowed, as a multiple of the queue's limit. */
  readonly weight: number;
  removed: boolean;
}

/**
 * Transmissions of news every member must hear, as a multiple of the limit: a member's
 * departure (`dead`, `left`), a replicated record (roster entry, join token), and, queued so by
 * the member table, an arrival (new, or back from dead or left) and a metadata change. A member
 * that misses every copy learns such news only from a push-pull or its own round-robin probe,
 * seconds later: with the `local` preset's 4 copies per holder, one metadata change in 14 left a
 * member of ten behind for 10 to 14 s in simulation; with 8, none in 300. Suspicions and
 * refutations are refreshed by the members they concern and keep weight 1.
 */
export const NEWS_WEIGHT = 2;

/** A transmit-limited queue of updates, keyed by member name. */
export class BroadcastQueue {
  readonly #byKey = new Map<string, Item>();
  /** `#buckets[t]` holds items sent `t` times, oldest first; stale references are skipped. */
  readonly #buckets: Item[][] = [];
  readonly #stale: number[] = [];
  #nextId = 0;

  /** Number of queued updates. */
  get size(): number {
    return this.#byKey.size;
  }

  /** The update queued for `key`, if any. */
  peek(key: string): Update | undefined {
    return this.#byKey.get(key)?.update;
  }

  /**
   * Queues `update` about member `key`, replacing any older one. `weight` multiplies the
   * transmissions allowed (default: {@link NEWS_WEIGHT} for a departure or a record, else 1).
   * Returns `true` when the queue was empty before (a hint to push at once).
   */
  queue(key: string, update: Update, weight?: number): boolean {
    const wasEmpty = this.#byKey.size === 0;
    const old = this.#byKey.get(key);
    if (old) this.#drop(old);
    const item: Item = {
      key,
      update,
      size: updateSize(update),
      id: this.#nextId++,
      transmits: 0,
      toSubject: 0,
      weight: weight ??
        (update.k === "dead" || update.k === "left" || update.k === "rec" ? NEWS_WEIGHT : 1),
      removed: false,
    };
    this.#byKey.set(key, item);
    (this.#buckets[0] ??= []).push(item);
    this.#stale[0] ??= 0;
    return wasEmpty;
  }

  /** Removes the update queued for `key`. */
  remove(key: string): void {
    const item = this.#byKey.get(key);
    if (item) this.#drop(item);
  }

  /**
   * Takes updates whose sizes fit in `budget` (bytes of JSON), fewest transmissions first and
   * newest first among equals, counting one transmission for each. Updates reaching `limit`
   * transmissions (times their weight) leave the queue.
   *
   * - `oversize`: an update larger than the whole budget (a big replicated record) may be taken
   *   alone as the first one, so it still leaves in a dedicated message instead of waiting
   *   forever. @default false
   * - `recipient`: the member the message goes to. A copy of an update about the recipient
   *   itself (the suspected member told of its suspicion, a member gossiped to) spreads the news
   *   to no one else, so it does not count towards `limit`: with three members and few copies,
   *   a suspicion whose copies all went to the suspect never reached the one member that could
   *   confirm it. Such copies have a limit of their own, after which the update is no longer
   *   sent to its subject; it leaves the queue once the others had theirs (an update whose
   *   subject is the only other member stays, unsent, until a newer one replaces it).
   */
  take(
    budget: number,
    limit: number,
    options: { oversize?: boolean; recipient?: string } = {},
  ): Update[] {
    const { oversize = false, recipient } = options;
    const out: Update[] = [];
    if (this.#byKey.size === 0 || budget <= 0) return out;
    const picked: Item[] = [];
    let remaining = budget;
    const buckets = this.#buckets;
    outer: for (let t = 0; t < buckets.length; t++) {
      const bucket = buckets[t];
      if (!bucket) continue;
      for (let i = bucket.length - 1; i >= 0; i--) {
        const item = bucket[i];
        if (item.removed || item.transmits !== t) continue;
        if (item.key === recipient && item.toSubject >= limit * item.weight) continue;
        if (item.size > remaining) {
          if (!oversize || picked.length > 0 || item.size <= budget) continue;
          picked.push(item);
          out.push(item.update);
          break outer;
        }
        remaining -= item.size;
        picked.push(item);
        out.push(item.update);
        // Smaller than any update: stop scanning.
        if (remaining < 24) break outer;
      }
    }
    for (let p = picked.length - 1; p >= 0; p--) {
      const item = picked[p];
      if (item.key === recipient) {
        item.toSubject++;
        continue;
      }
      this.#markStale(item.transmits);
      item.transmits++;
      if (item.transmits >= limit * item.weight) {
        item.removed = true;
        this.#byKey.delete(item.key);
      } else {
        insertById(buckets[item.transmits] ??= [], item);
        this.#stale[item.transmits] ??= 0;
      }
    }
    return out;
  }

  /** Empties the queue. */
  clear(): void {
    for (const item of this.#byKey.values()) item.removed = true;
    this.#byKey.clear();
    this.#buckets.length = 0;
    this.#stale.length = 0;
  }

  #drop(item: Item): void {
    item.removed = true;
    this.#byKey.delete(item.key);
    this.#markStale(item.transmits);
  }

  #markStale(t: number): void {
    const bucket = this.#buckets[t];
    if (!bucket) return;
    const stale = ++this.#stale[t];
    if (stale > 16 && stale * 2 > bucket.length) {
      const kept = bucket.filter((it) => !it.removed && it.transmits === t);
      this.#buckets[t] = kept;
      this.#stale[t] = 0;
    }
  }
}

/** Inserts `item` keeping `bucket` ordered by id (usually at the end: moved items are new). */
function insertById(bucket: Item[], item: Item): void {
  let lo = bucket.length;
  if (lo === 0 || bucket[lo - 1].id < item.id) {
    bucket.push(item);
    return;
  }
  let l = 0;
  while (l < lo) {
    const mid = (l + lo) >> 1;
    if (bucket[mid].id < item.id) l = mid + 1;
    else lo = mid;
  }
  bucket.splice(l, 0, item);
}
