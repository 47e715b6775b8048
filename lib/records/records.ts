/**
 * Replicated records: the small shared state every member of a cluster sees, without a leader.
 * An app reaches them as `member.records` ({@link ReplicatedRecords}); the member's SQL store,
 * by contrast, is its own.
 *
 * Each key holds one JSON value. A write is applied at once on the writing member, written to
 * its store, and spread by the gossip layer (piggybacked on its messages, and by the periodic
 * full-state exchange for a member that missed it), so every member converges on the same value
 * per key: **last writer wins**, by the record's version (the writer's clock in ms, raised above
 * the version it replaces), then a delete over a value of the same version, then the greater
 * writer name. Limits: {@link RECORDS_LIMITS}.
 *
 * @module
 */
import type { RecordInput, RecordStore, ReplicatedRecord } from "../cluster/replicated_record.ts";
import type { JsonValue } from "../json_value.ts";
import { InvalidInputError, isCohortError, TooLargeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  APP_RECORD,
  keyProblem,
  RECORDS_LIMITS,
  type RecordsUsage,
  usageOf,
  valueChars,
} from "./limits.ts";

export { APP_RECORD, RECORDS_LIMITS, type RecordsUsage } from "./limits.ts";

/** One key's current value. */
export interface RecordEntry<T = JsonValue> {
  readonly key: string;
  /** The value (a frozen deep copy of what was put). */
  readonly value: T;
  /** The writer's clock at the write (ms since the epoch), raised above the version it replaced. */
  readonly version: number;
  /** The name of the member that wrote it. */
  readonly writer: string;
}

/** A change of one key, as {@link ReplicatedRecords.watch} reports it. */
export interface RecordChange<T = JsonValue> {
  readonly key: string;
  /** The new value; `null` when the key was deleted. */
  readonly value: T | null;
  /** The value it replaced; `null` when the key had none (new, or deleted before). */
  readonly previous: T | null;
  /** The version of the write (see {@link RecordEntry.version}). */
  readonly version: number;
  /** The member that wrote it. */
  readonly writer: string;
  /** Whether this member wrote it. */
  readonly local: boolean;
}

/** Options of {@link ReplicatedRecords.changes}. */
export interface ChangesOptions {
  /** Only keys starting with this prefix. @default "" (every key) */
  readonly prefix?: string;
  /** Ends the iteration when aborted. */
  readonly signal?: AbortSignal;
}

/**
 * The app's replicated records: see the module docs. Available from the moment `createMember`
 * returns; until the member is initialised (bootstrapped or joined) and whenever it has no
 * cluster, reads and writes throw {@link UnavailableError} (`E_UNAVAILABLE`), while watching
 * is always allowed and reports changes once the member runs.
 */
export interface ReplicatedRecords {
  /**
   * Writes `value` under `key` on this member and spreads it to every member. Resolves with the
   * entry once it is in this member's store (so it survives a restart).
   *
   * @throws {InvalidInputError} (`E_INVALID`) for an empty key, a key with control characters,
   *   a value that is `null`, `undefined` or not JSON (functions, `NaN`, class instances, cycles).
   * @throws {TooLargeError} (`E_TOO_LARGE`) for a key longer than `RECORDS_LIMITS.keyChars`, a
   *   value longer than `RECORDS_LIMITS.valueChars` as JSON, a new key while
   *   `RECORDS_LIMITS.maxKeys` are held, or values that would exceed `RECORDS_LIMITS.totalChars`.
   * @throws {UnavailableError} (`E_UNAVAILABLE`) while the member has no cluster.
   * @throws {DiskError} (`E_DISK`) / {NoSpaceError} (`E_NO_SPACE`) when this member's store
   *   could not write it (a failing, read-only or full disk): the value is applied and spreads
   *   all the same, and this member writes it once its disk takes writes again.
   */
  put<T extends RecordInput>(key: string, value: T): Promise<RecordEntry<T>>;
  /**
   * The current value of `key`, or `undefined` when it has none (never written, or deleted).
   *
   * @throws {InvalidInputError} / {TooLargeError} for an invalid key;
   *   {UnavailableError} while the member has no cluster.
   */
  get<T = JsonValue>(key: string): RecordEntry<T> | undefined;
  /**
   * Deletes `key` everywhere (a tombstone, kept {@link RECORDS_LIMITS}`.tombstoneMs` so that an
   * older value cannot come back). Resolves `true` when a value was deleted, `false` when the
   * key had none (nothing is written then).
   *
   * @throws like {@link ReplicatedRecords.get}.
   */
  delete(key: string): Promise<boolean>;
  /**
   * The current entries whose key starts with `prefix` (default: all), sorted by key (UTF-16
   * code unit order).
   *
   * @throws {UnavailableError} while the member has no cluster.
   */
  list<T = JsonValue>(prefix?: string): RecordEntry<T>[];
  /**
   * Calls `listener` with every change of a key starting with `prefix` (`""`: all), local writes
   * and writes arriving from other members alike, in the order this member applies them. A
   * delete of a key that held no value here (deleted before this member joined) is no change.
   * Returns the function that unsubscribes. A listener that throws is logged and kept.
   * Changes only: read the current state with {@link ReplicatedRecords.list} first (in the same
   * tick, nothing is missed in between).
   */
  watch(prefix: string, listener: (change: RecordChange) => void): () => void;
  /**
   * The same changes as an async iterator (`for await (const c of records.changes())`). A slow
   * consumer gets the latest change per key (changes of one key not yet consumed are merged:
   * the newest value, the oldest previous; none for a key written and deleted again meanwhile,
   * which holds no value as before). Ends when the loop breaks, when `signal` aborts, or
   * when the member stops.
   */
  changes(options?: ChangesOptions): AsyncIterableIterator<RecordChange>;
  /** Keys and value characters held, against {@link RECORDS_LIMITS}. */
  usage(): RecordsUsage;
}

/** What {@link AppRecords} needs from its member. */
export interface RecordsBackend {
  /** The gossip layer's record store while the member has a cluster, else `undefined`. */
  store(): RecordStore | undefined;
  /** The error to throw while there is none (naming the member's state). */
  unavailable(): Error;
  /** Writes the records changed so far to the member's store; rejects when it could not. */
  flush(): Promise<void>;
  /** This member's name, once it has one. */
  name(): string | undefined;
  readonly logger: Logger;
}

/** The implementation of {@link ReplicatedRecords} over a member; the member feeds {@link AppRecords.notify}. */
export class AppRecords implements ReplicatedRecords {
  readonly #b: RecordsBackend;
  readonly #watchers = new Set<{ prefix: string; fn: (c: RecordChange) => void }>();
  readonly #closers = new Set<() => void>();

  constructor(backend: RecordsBackend) {
    this.#b = backend;
  }

  async put<T extends RecordInput>(key: string, value: T): Promise<RecordEntry<T>> {
    checkKey(key);
    if (value === null || value === undefined) {
      throw new InvalidInputError(
        value === null
          ? `Cannot put the record "${key}": the value must not be null (delete the key instead)`
          : `Cannot put the record "${key}": the value is missing`,
        { field: "value" },
      );
    }
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (err) {
      throw new InvalidInputError(`Cannot put the record "${key}": the value is not JSON`, {
        field: "value",
        cause: err,
      });
    }
    if (text === undefined) {
      throw new InvalidInputError(`Cannot put the record "${key}": the value is not JSON`, {
        field: "value",
      });
    }
    if (text.length > RECORDS_LIMITS.valueChars) {
      throw new TooLargeError(
        `Cannot put the record "${key}": its value takes ${text.length} characters of JSON ` +
          `(at most ${RECORDS_LIMITS.valueChars})`,
      );
    }
    const store = this.#store();
    const held = live(store.record(APP_RECORD, key));
    const all = store.records(APP_RECORD);
    const usage = usageOf(all);
    const had = store.record(APP_RECORD, key) !== undefined;
    if (!had && usage.keys >= RECORDS_LIMITS.maxKeys) {
      throw new TooLargeError(
        `Cannot put the record "${key}": ${RECORDS_LIMITS.maxKeys} keys are held ` +
          "(deleted keys count until their tombstones expire)",
      );
    }
    const chars = usage.chars - (held ? valueChars(held) : 0) + text.length;
    // As every member checks it: a value no larger than the one it replaces always fits.
    if (chars > RECORDS_LIMITS.totalChars && text.length > (held ? valueChars(held) : 0)) {
      throw new TooLargeError(
        `Cannot put the record "${key}": all values would take ${chars} characters of JSON ` +
          `(at most ${RECORDS_LIMITS.totalChars})`,
      );
    }
    let record: ReplicatedRecord;
    try {
      record = store.setRecord(APP_RECORD, key, value);
    } catch (err) {
      if (isCohortError(err) && err.code === "E_INVALID") {
        throw new InvalidInputError(
          `Cannot put the record "${key}": the value is not JSON (plain objects, arrays, ` +
            "strings, finite numbers, booleans and null, at most 16 levels deep)",
          { field: "value" },
        );
      }
      throw err;
    }
    await this.#b.flush();
    return entryOf<T>(record);
  }

  get<T = JsonValue>(key: string): RecordEntry<T> | undefined {
    checkKey(key);
    const r = live(this.#store().record(APP_RECORD, key));
    return r ? entryOf<T>(r) : undefined;
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    const store = this.#store();
    if (!live(store.record(APP_RECORD, key))) return false;
    // Its life from its version: the other members refuse a tombstone that expires later than
    // tombstoneMs after its version, and this member's clock is not its engine's to the ms.
    store.setRecord(APP_RECORD, key, null, { lifetimeMs: RECORDS_LIMITS.tombstoneMs });
    await this.#b.flush();
    return true;
  }

  list<T = JsonValue>(prefix = ""): RecordEntry<T>[] {
    if (typeof prefix !== "string") {
      throw new InvalidInputError("Cannot list records: prefix: expected a string", {
        field: "prefix",
      });
    }
    const out: RecordEntry<T>[] = [];
    for (const r of this.#store().records(APP_RECORD)) {
      if (r.value !== null && r.key.startsWith(prefix)) out.push(entryOf<T>(r));
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  watch(prefix: string, listener: (change: RecordChange) => void): () => void {
    if (typeof prefix !== "string" || typeof listener !== "function") {
      throw new InvalidInputError("Cannot watch records: expected a prefix and a listener", {
        field: typeof prefix !== "string" ? "prefix" : "listener",
      });
    }
    const w = { prefix, fn: listener };
    this.#watchers.add(w);
    return () => void this.#watchers.delete(w);
  }

  changes(options: ChangesOptions = {}): AsyncIterableIterator<RecordChange> {
    const pending = new Map<string, RecordChange>();
    let wake: (() => void) | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      unwatch();
      this.#closers.delete(finish);
      options.signal?.removeEventListener("abort", finish);
      wake?.();
    };
    const unwatch = this.watch(options.prefix ?? "", (c) => {
      const before = pending.get(c.key);
      // Re-inserted: the key moves to the end, with the oldest previous value kept.
      pending.delete(c.key);
      // Written and deleted again before the consumer looked: from nothing to nothing, no change.
      if (before && before.previous === null && c.value === null) return;
      pending.set(c.key, before ? { ...c, previous: before.previous } : c);
      wake?.();
    });
    this.#closers.add(finish);
    if (options.signal?.aborted) finish();
    else options.signal?.addEventListener("abort", finish);
    const iterator: AsyncIterableIterator<RecordChange> = {
      async next(): Promise<IteratorResult<RecordChange>> {
        while (!done && pending.size === 0) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        if (pending.size === 0) return { done: true, value: undefined };
        const [key, change] = pending.entries().next().value!;
        pending.delete(key);
        return { done: false, value: change };
      },
      return(): Promise<IteratorResult<RecordChange>> {
        finish();
        pending.clear();
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  usage(): RecordsUsage {
    return usageOf(this.#store().records(APP_RECORD));
  }

  /** An app record changed (locally or from the network): tells the watchers. */
  notify(record: ReplicatedRecord, previous: ReplicatedRecord | undefined): void {
    if (record.kind !== APP_RECORD || this.#watchers.size === 0) return;
    // A tombstone over no value (a joiner or a returning member taking in a key deleted before
    // it held it, or a newer delete over a delete) changes nothing an app can read here.
    if (record.value === null && !live(previous)) return;
    const change: RecordChange = Object.freeze({
      key: record.key,
      value: record.value,
      previous: previous?.value ?? null,
      version: record.version,
      writer: record.origin,
      local: record.origin === this.#b.name(),
    });
    for (const w of [...this.#watchers]) {
      if (!record.key.startsWith(w.prefix)) continue;
      try {
        w.fn(change);
      } catch (err) {
        this.#b.logger.warn("A replicated records listener threw", { key: record.key, err });
      }
    }
  }

  /** The member stopped: every {@link AppRecords.changes} iteration ends. */
  close(): void {
    for (const finish of [...this.#closers]) finish();
  }

  #store(): RecordStore {
    const store = this.#b.store();
    if (!store) throw this.#b.unavailable();
    return store;
  }
}

function checkKey(key: string): void {
  const problem = keyProblem(key);
  if (!problem) return;
  if (typeof key === "string" && key.length > RECORDS_LIMITS.keyChars) {
    throw new TooLargeError(`Invalid record ${problem}`);
  }
  throw new InvalidInputError(`Invalid record ${problem}`, { field: "key" });
}

const live = (r: ReplicatedRecord | undefined) => (r && r.value !== null ? r : undefined);

function entryOf<T>(r: ReplicatedRecord): RecordEntry<T> {
  return Object.freeze({
    key: r.key,
    value: r.value as T,
    version: r.version,
    writer: r.origin,
  });
}
