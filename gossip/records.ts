/**
 * Replicated records: the cluster-wide last-writer-wins map behind {@link RecordStore} (join
 * tokens, their single-use tombstones, "member removed" tombstones, which lapse 30 days on: see
 * `lapsesAt`). A change is queued in the engine's broadcast queue like a member update, and every
 * push-pull carries the whole map, so a member that missed a broadcast converges at its next
 * push-pull.
 *
 * Records from the network are validated here, one by one: a bad record is logged and dropped
 * without its frame, and never reaches the map. Beyond its shape, a record is refused when
 *
 * - its version (the writer's clock in ms) is more than {@link MAX_VERSION_AHEAD_MS} ahead of
 *   ours: no honest writer is, and a version near 2^53 would leave no room for the removal
 *   that must beat it;
 * - it is a new key while the table holds `maxRecords` records;
 * - the trust says its writer may not write it (`Trust.recordProblem`: for cohort, a member
 *   writes only its own roster record, see `lib/cluster/roster_trust.ts`); a sender whose
 *   records the trust refused {@link REFUSAL_BUDGET} times in a second gets the rest of that
 *   second's records refused unchecked (checking costs signature verifications).
 *
 * Values are applied before tombstones and in as many passes as they make progress, so a batch
 * (a push-pull's records) that holds both the record of a member and one it wrote is accepted
 * whatever its order. A tombstone wins over a value of the same version, so a removal writes
 * `max(now, version held)` and always wins, however far ahead the value it removes.
 *
 * @module
 */
import type { Clock } from "../lib/cluster/clock.ts";
import type {
  RecordInput,
  ReplicatedRecord,
  SetRecordOptions,
} from "../lib/cluster/replicated_record.ts";
import type { JsonValue } from "../lib/json_value.ts";
import {
  compareRecords,
  lapsesAt,
  RECORD_LIMITS,
  sameJson,
} from "../lib/cluster/replicated_record.ts";
import { extensionDigest } from "../lib/cluster/extensions.ts";
import { InvalidInputError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { Trust } from "../lib/cluster/trust.ts";
import type { Emitter } from "./events.ts";
import type { RecordUpdate } from "./messages.ts";

/**
 * How far ahead of the receiver's clock a record's version may be, in ms (1 hour): clocks of
 * members must roughly agree anyway (records expire by each member's own clock).
 */
export const MAX_VERSION_AHEAD_MS = 3_600_000;

/** Records the trust may refuse per sender per second before the sender's go unchecked. */
export const REFUSAL_BUDGET = 64;

/** What the record table asks of the engine around it. */
export interface RecordHooks {
  /** Queues an update under broadcast key `key` (replacing an older one) and pushes it. */
  queue(key: string, update: RecordUpdate): void;
  /** Removes the update queued under `key` (the record expired). */
  unqueue(key: string): void;
  /**
   * A record was stored (a local write or one received), after the `record-change` event;
   * `previous`: the record it replaced.
   */
  changed?(record: ReplicatedRecord, previous: ReplicatedRecord | undefined): void;
}

/** What the record table is built with. */
export interface RecordContext {
  clock: Clock;
  logger: Logger;
  events: Emitter;
  /** The engine's trust (read at each use: it is built after the table). */
  trust: () => Trust;
  /** Most records held; a new key beyond is refused. */
  maxRecords: number;
}

/** Largest nesting depth of a record value. */
const MAX_DEPTH = 16;
const ALLOWED = new Set(["kind", "key", "value", "version", "origin", "expiresAt"]);
// Records already validated (and frozen): the memory transport hands the same object to every
// receiver, so a record crossing a 1000-member simulation is checked once.
const valid = new WeakSet<object>();

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
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
  readonly #trust: () => Trust;
  readonly #max: number;
  #size = 0;
  /** The last {@link RecordTable.digest} and the time it holds until (see there). */
  #digest: { value: string; until: number } | undefined;
  #loggedAt = -Infinity;
  #refusedLoggedAt = -Infinity;
  /** Trust refusals in the current second, by sender. */
  #refusals = new Map<string, number>();
  #second = -Infinity;
  /** Records dropped as malformed since creation. */
  dropped = 0;
  /** Well-formed records refused since creation (out of range, table full, or by the trust). */
  refused = 0;

  constructor(origin: string, ctx: RecordContext, hooks: RecordHooks) {
    this.#origin = origin;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#trust = ctx.trust;
    this.#max = ctx.maxRecords;
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

  /**
   * Digest of the unexpired records (each one's kind, key, version and origin; equal tables give
   * equal digests whatever the order), what push-pull compares. Kept until a record is stored or
   * the first of them expires: every push-pull opening and answer carries it, and a member that
   * changed the roster opens one with every other member (a sort and a hash of every record
   * each time, O(N²) for the N exchanges).
   */
  digest(): string {
    const now = this.#clock.now();
    if (this.#digest && now < this.#digest.until) return this.#digest.value;
    let until = Infinity;
    const ids: string[] = [];
    for (const r of this.all()) {
      ids.push(`${r.kind}\n${r.key}\n${r.version}\n${r.origin}`);
      const ends = lapsesAt(r);
      if (ends !== undefined && ends < until) until = ends;
    }
    const value = extensionDigest(ids.sort());
    this.#digest = { value, until };
    return value;
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
    const now = Math.floor(this.#clock.now());
    // A tombstone wins a tie, so a removal needs no version beyond the one it removes.
    const version = !cur
      ? now
      : value === null && cur.value !== null
      ? Math.max(now, cur.version)
      : Math.max(now, cur.version + 1);
    // Dated from the version itself, so a bound on expiry by version holds exactly.
    if (options.lifetimeMs !== undefined) expiresAt = version + Math.ceil(options.lifetimeMs);
    // A deep copy (validated and frozen below): the caller keeps its object mutable, the
    // cluster gets an immutable one. structuredClone keeps NaN and undefined so they are caught.
    let copy: unknown;
    try {
      copy = structuredClone(value);
    } catch {
      copy = undefined;
    }
    let record: ReplicatedRecord = expiresAt === undefined
      ? { kind, key, value: copy as JsonValue | null, version, origin: this.#origin }
      : { kind, key, value: copy as JsonValue | null, version, origin: this.#origin, expiresAt };
    let problem = recordProblem(record);
    if (!problem) {
      // Signed by the trust once its shape is known good (the signature covers the value).
      record = this.#trust().seal(record);
      problem = recordProblem(record);
    }
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
   * A record from the network: validated, dropped when expired or not newer than ours, refused
   * when out of range or by the trust, otherwise stored, re-gossiped and announced. `trusted`:
   * it comes with the state an admitting member handed us (see `Trust.recordProblem`).
   * Returns `true` when it changed the map.
   */
  receive(v: unknown, from: string, trusted = false): boolean {
    return this.#receive(v, from, trusted) === "stored";
  }

  /**
   * Records from one message (a push-pull's, a gossip batch's): values first, in passes while
   * they make progress (a record may be accepted only once the record of its writer is), then
   * tombstones. Returns how many changed the map. `quiet`: what they change is not gossiped on
   * (an admitting member's view, handed to a joiner, which the cluster already has).
   */
  receiveAll(list: readonly unknown[], from: string, trusted = false, quiet = false): number {
    let stored = 0;
    let later: unknown[] = [];
    const tombstones: unknown[] = [];
    for (const v of list) {
      if (isObject(v) && v.value === null) tombstones.push(v);
      else later.push(v);
    }
    for (let pass = 0; later.length > 0 && pass < 8; pass++) {
      const again: unknown[] = [];
      let progress = false;
      for (const v of later) {
        const outcome = this.#receive(v, from, trusted, pass < 7 && later.length > 1, quiet);
        if (outcome === "stored") {
          stored++;
          progress = true;
        } else if (outcome === "retry") again.push(v);
      }
      later = again;
      if (!progress) {
        for (const v of later) {
          if (this.#receive(v, from, trusted, false, quiet) === "stored") stored++;
        }
        break;
      }
    }
    for (const v of tombstones) {
      if (this.#receive(v, from, trusted, false, quiet) === "stored") stored++;
    }
    return stored;
  }

  /**
   * One record from the network; `defer`: a trust refusal is "retry", not counted yet; `quiet`:
   * stored without gossiping it on.
   */
  #receive(
    v: unknown,
    from: string,
    trusted: boolean,
    defer = false,
    quiet = false,
  ): "stored" | "ignored" | "retry" {
    // The record held, received again (each update reaches a member several times): ignored
    // before it is checked, as the record it equals was when it was stored.
    if (isObject(v) && typeof v.kind === "string" && typeof v.key === "string") {
      const held = this.get(v.kind, v.key);
      if (held && sameJson(v, held)) return "ignored";
    }
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
      return "ignored";
    }
    const r = v as ReplicatedRecord;
    const now = this.#clock.now();
    if (this.#expired(r, now)) return "ignored";
    const cur = this.get(r.kind, r.key);
    if (cur && compareRecords(r, cur) <= 0 && !this.#trust().overrides?.(r, cur)) {
      return "ignored";
    }
    let refusal: string | undefined;
    if (r.version > now + MAX_VERSION_AHEAD_MS) {
      refusal = `version is ${
        Math.round((r.version - now) / 1000)
      } s ahead of this member's clock (at most ${MAX_VERSION_AHEAD_MS / 1000} s)`;
    } else if (!this.#byKind.get(r.kind)?.has(r.key) && this.#size >= this.#max) {
      refusal = `the record table is full (${this.#max} records)`;
    } else if (!this.#budget(from, now)) {
      refusal = "too many refused records from this sender this second";
    } else {
      refusal = this.#trust().recordProblem(r, cur, trusted);
      if (refusal !== undefined && defer) return "retry";
      if (refusal !== undefined) this.#refusals.set(from, (this.#refusals.get(from) ?? 0) + 1);
    }
    if (refusal !== undefined) {
      this.refused++;
      if (now - this.#refusedLoggedAt >= 10_000) {
        this.#refusedLoggedAt = now;
        this.#log.warn("Refusing a replicated record", {
          from,
          kind: r.kind,
          key: r.key,
          origin: r.origin,
          reason: refusal,
          refused: this.refused,
        });
      }
      return "ignored";
    }
    this.#accept(r, cur, quiet);
    return "stored";
  }

  /**
   * Records persisted by a previous run: stored silently (no events, no gossip), trusted as the
   * member's own store is, but never one with a version beyond the bound.
   */
  restore(records: readonly ReplicatedRecord[]): void {
    for (const r of records) {
      const problem = recordProblem(r);
      if (problem) {
        this.#log.warn("Skipping a malformed restored record", { reason: problem });
        continue;
      }
      const now = this.#clock.now();
      if (this.#expired(r, now)) continue;
      // A store written before versions were bounded may hold one no member accepts any more
      // (and no removal could beat): it is dropped, so the record can be removed or rewritten.
      if (r.version > now + MAX_VERSION_AHEAD_MS) {
        this.#log.warn("Skipping a restored record whose version is far ahead of the clock", {
          kind: r.kind,
          key: r.key,
          version: r.version,
        });
        continue;
      }
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

  /** Whether `from`'s records may still be checked by the trust in this second. */
  #budget(from: string, now: number): boolean {
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#second = second;
      if (this.#refusals.size) this.#refusals = new Map();
    }
    return (this.#refusals.get(from) ?? 0) < REFUSAL_BUDGET;
  }

  #expired(r: ReplicatedRecord, now: number): boolean {
    const ends = lapsesAt(r);
    return ends !== undefined && ends <= now;
  }

  #store(r: ReplicatedRecord): void {
    let map = this.#byKind.get(r.kind);
    if (!map) this.#byKind.set(r.kind, map = new Map());
    const had = map.has(r.key);
    map.set(r.key, r);
    this.#digest = undefined;
    if (!had) this.#size++;
  }

  #accept(r: ReplicatedRecord, previous: ReplicatedRecord | undefined, quiet = false): void {
    this.#store(r);
    if (!quiet) this.#hooks.queue(recordQueueKey(r.kind, r.key), { k: "rec", r });
    if (this.#events.has("record-change")) {
      this.#events.emit("record-change", { record: r, previous });
    }
    this.#hooks.changed?.(r, previous);
  }
}
