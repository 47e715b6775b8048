/**
 * Replicated records: the cluster-wide last-writer-wins map behind {@link RecordStore} (join
 * tokens, their single-use tombstones, "member removed" tombstones). A change is queued in the
 * engine's broadcast queue like a member update, and every push-pull carries the whole map, so
 * a member that missed a broadcast converges at its next push-pull.
 *
 * Records from the network are validated here, one by one: a bad record is logged and dropped
 * without its frame, and never reaches the map.
 *
 * @module
 */
import type {
  Clock,
  JsonValue,
  RecordInput,
  ReplicatedRecord,
  SetRecordOptions,
} from "../lib/cluster/membership.ts";
import { compareRecords, RECORD_LIMITS } from "../lib/cluster/membership.ts";
import { InvalidInputError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { Emitter } from "./events.ts";
import type { RecordUpdate } from "./messages.ts";

/** What the record table asks of the engine around it. */
export interface RecordHooks {
  /** Queues an update under broadcast key `key` (replacing an older one) and pushes it. */
  queue(key: string, update: RecordUpdate): void;
  /** Removes the update queued under `key` (the record expired). */
  unqueue(key: string): void;
}

/** Largest nesting depth of a record value. */
const MAX_DEPTH = 16;
const ALLOWED = new Set(["kind", "key", "value", "version", "origin", "expiresAt"]);
// Records already validated (and frozen): the memory transport hands the same object to every
// receiver, so a record crossing a 1000-member simulation is checked once.
const valid = new WeakSet<object>();

const isUint = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown, max: number): v is string =>
  typeof v === "string" && v.length > 0 && v.length <= max;

/**
 * Checks that `v` is JSON (finite numbers, plain objects and arrays, bounded depth) and freezes
 * it, so a listener cannot change what other members share. Returns `false` on the first fault.
 */
function freezeJson(v: unknown, depth: number): boolean {
  if (v === null || typeof v === "string" || typeof v === "boolean") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (typeof v !== "object" || depth >= MAX_DEPTH) return false;
  if (Array.isArray(v)) {
    for (const item of v) if (!freezeJson(item, depth + 1)) return false;
  } else {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return false;
    for (const k in v) if (!freezeJson((v as Record<string, unknown>)[k], depth + 1)) return false;
  }
  Object.freeze(v);
  return true;
}

/**
 * Validates a record received from a peer (or restored), freezing it when valid. Returns a
 * short reason when it is malformed, `undefined` when it is fine. Never throws.
 */
export function recordProblem(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "expected an object";
  if (valid.has(v)) return undefined;
  const r = v as Record<string, unknown>;
  for (const k in r) if (!ALLOWED.has(k)) return `unknown field ${k}`;
  if (!isText(r.kind, RECORD_LIMITS.kind)) return "kind: expected a short non-empty string";
  if (!isText(r.key, RECORD_LIMITS.key)) return "key: expected a short non-empty string";
  if (!isText(r.origin, RECORD_LIMITS.key)) return "origin: expected a member name";
  if (!isUint(r.version)) return "version: expected a non-negative integer";
  if (r.expiresAt !== undefined && !isUint(r.expiresAt)) {
    return "expiresAt: expected a non-negative integer";
  }
  if (!("value" in r) || !freezeJson(r.value, 0)) return "value: expected JSON or null";
  if (typeof r.value === "string" || (typeof r.value === "object" && r.value !== null)) {
    let size: number;
    try {
      size = JSON.stringify(r.value).length;
    } catch {
      return "value: not encodable";
    }
    if (size > RECORD_LIMITS.valueChars) return "value: too large";
  }
  Object.freeze(v);
  valid.add(v);
  return undefined;
}

/** The broadcast-queue key of a record; the NUL prefix keeps it apart from member names. */
export function recordQueueKey(kind: string, key: string): string {
  return `\u0000${kind}\u0000${key}`;
}

/** The local copy of the replicated record map, with the merge rule and expiry. */
export class RecordTable {
  /** Records by kind, then key. Expired records linger until {@link RecordTable.purge}. */
  readonly #byKind = new Map<string, Map<string, ReplicatedRecord>>();
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: Emitter;
  readonly #origin: string;
  readonly #hooks: RecordHooks;
  #size = 0;
  #loggedAt = -Infinity;
  /** Records dropped as malformed since creation. */
  dropped = 0;

  constructor(
    origin: string,
    ctx: { clock: Clock; logger: Logger; events: Emitter },
    hooks: RecordHooks,
  ) {
    this.#origin = origin;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#hooks = hooks;
  }

  /** Number of records held (expired ones not yet purged included). */
  get size(): number {
    return this.#size;
  }

  /** See {@link RecordStore.record}. */
  get(kind: string, key: string): ReplicatedRecord | undefined {
    const r = this.#byKind.get(kind)?.get(key);
    return r && !this.#expired(r, this.#clock.now()) ? r : undefined;
  }

  /** See {@link RecordStore.records}. */
  list(kind: string): ReplicatedRecord[] {
    const map = this.#byKind.get(kind);
    if (!map) return [];
    const now = this.#clock.now();
    const out: ReplicatedRecord[] = [];
    for (const r of map.values()) if (!this.#expired(r, now)) out.push(r);
    return out;
  }

  /** Every unexpired record, for a push-pull. */
  all(): ReplicatedRecord[] {
    const now = this.#clock.now();
    const out: ReplicatedRecord[] = [];
    for (const map of this.#byKind.values()) {
      for (const r of map.values()) if (!this.#expired(r, now)) out.push(r);
    }
    return out;
  }

  /** A local write. See {@link RecordStore.setRecord}. */
  set(
    kind: string,
    key: string,
    value: RecordInput | null,
    options: SetRecordOptions = {},
  ): ReplicatedRecord {
    const cur = this.get(kind, key);
    let expiresAt = options.expiresAt;
    if (expiresAt === undefined && value === null) expiresAt = cur?.expiresAt;
    // Whole ms on the wire; rounding up never makes a record expire early.
    else if (typeof expiresAt === "number" && Number.isFinite(expiresAt)) {
      expiresAt = Math.ceil(expiresAt);
    }
    const version = Math.max(Math.floor(this.#clock.now()), cur ? cur.version + 1 : 0);
    // A deep copy (validated and frozen below): the caller keeps its object mutable, the
    // cluster gets an immutable one. structuredClone keeps NaN and undefined so they are caught.
    let copy: unknown;
    try {
      copy = structuredClone(value);
    } catch {
      copy = undefined;
    }
    const record: ReplicatedRecord = expiresAt === undefined
      ? { kind, key, value: copy as JsonValue | null, version, origin: this.#origin }
      : { kind, key, value: copy as JsonValue | null, version, origin: this.#origin, expiresAt };
    const problem = recordProblem(record);
    if (problem) {
      const colon = problem.indexOf(":");
      throw new InvalidInputError(`Invalid replicated record ${kind}/${key}: ${problem}`, {
        field: colon > 0 ? problem.slice(0, colon) : undefined,
      });
    }
    this.#accept(record, cur);
    return record;
  }

  /**
   * A record from the network: validated, dropped when expired or not newer than ours,
   * otherwise stored, re-gossiped and announced. Returns `true` when it changed the map.
   */
  receive(v: unknown, from: string): boolean {
    const problem = recordProblem(v);
    if (problem) {
      this.dropped++;
      const now = this.#clock.now();
      // One line per 10 s: a misbehaving peer must not flood the log.
      if (now - this.#loggedAt >= 10_000) {
        this.#loggedAt = now;
        this.#log.warn("Dropping a malformed replicated record", {
          from,
          reason: problem,
          dropped: this.dropped,
        });
      }
      return false;
    }
    const r = v as ReplicatedRecord;
    if (this.#expired(r, this.#clock.now())) return false;
    const cur = this.get(r.kind, r.key);
    if (cur && compareRecords(r, cur) <= 0) return false;
    this.#accept(r, cur);
    return true;
  }

  /** Records persisted by a previous run: stored silently (no events, no gossip). */
  restore(records: readonly ReplicatedRecord[]): void {
    for (const r of records) {
      const problem = recordProblem(r);
      if (problem) {
        this.#log.warn("Skipping a malformed restored record", { reason: problem });
        continue;
      }
      if (this.#expired(r, this.#clock.now())) continue;
      const cur = this.get(r.kind, r.key);
      if (!cur || compareRecords(r, cur) > 0) this.#store(r);
    }
  }

  /** Drops expired records (tombstones too) and their queued broadcasts. Returns how many. */
  purge(): number {
    const now = this.#clock.now();
    let purged = 0;
    for (const [kind, map] of this.#byKind) {
      for (const [key, r] of map) {
        if (!this.#expired(r, now)) continue;
        map.delete(key);
        this.#hooks.unqueue(recordQueueKey(kind, key));
        purged++;
      }
      if (map.size === 0) this.#byKind.delete(kind);
    }
    this.#size -= purged;
    return purged;
  }

  #expired(r: ReplicatedRecord, now: number): boolean {
    return r.expiresAt !== undefined && r.expiresAt <= now;
  }

  #store(r: ReplicatedRecord): void {
    let map = this.#byKind.get(r.kind);
    if (!map) this.#byKind.set(r.kind, map = new Map());
    const had = map.has(r.key);
    map.set(r.key, r);
    if (!had) this.#size++;
  }

  #accept(r: ReplicatedRecord, previous: ReplicatedRecord | undefined): void {
    this.#store(r);
    this.#hooks.queue(recordQueueKey(r.kind, r.key), { k: "rec", r });
    if (this.#events.has("record-change")) {
      this.#events.emit("record-change", { record: r, previous });
    }
  }
}
