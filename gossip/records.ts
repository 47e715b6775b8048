/**
 * Replicated records: the cluster-wide last-writer-wins map behind {@link RecordStore} (join
 * tokens, their single-use tombstones, "member removed" tombstones, which lapse 30 days on: see
 * `lapsesAt`). A change is queued in the engine's broadcast queue like a member update, and every
 * push-pull carries the whole map, so a member that missed a broadcast converges at its next
 * push-pull.
 *
 * Records from the network are validated and bounded by record_intake.ts before they reach the
 * map (a version at most `MAX_VERSION_AHEAD_MS` ahead, at most `maxRecords`, what the trust
 * allows; values before tombstones, so a batch holding a member's record and one it wrote is
 * accepted in any order), and every record's shape is checked by record_shape.ts.
 *
 * A tombstone wins over a value of the same version, so a removal writes
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
import { compareRecords, lapsesAt } from "../lib/cluster/replicated_record.ts";
import { extensionDigest } from "../lib/cluster/extensions.ts";
import { InvalidInputError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { Trust } from "../lib/cluster/trust.ts";
import type { Emitter } from "./events.ts";
import type { RecordUpdate } from "./messages.ts";
import { MAX_VERSION_AHEAD_MS, RecordIntake } from "./record_intake.ts";
import { recordProblem } from "./record_shape.ts";

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
  readonly #intake: RecordIntake;
  #size = 0;
  /** The last {@link RecordTable.digest} and the time it holds until (see there). */
  #digest: { value: string; until: number } | undefined;

  constructor(origin: string, ctx: RecordContext, hooks: RecordHooks) {
    this.#origin = origin;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#trust = ctx.trust;
    this.#hooks = hooks;
    const byKind = this.#byKind;
    const size = () => this.#size;
    this.#intake = new RecordIntake({
      get: (kind, key) => this.get(kind, key),
      holds: (kind, key) => byKind.get(kind)?.has(key) === true,
      get size() {
        return size();
      },
      expired: (r, now) => this.#expired(r, now),
      accept: (r, previous, quiet) => this.#accept(r, previous, quiet),
    }, ctx);
  }

  /** Records dropped as malformed since creation (see record_intake.ts). */
  get dropped(): number {
    return this.#intake.dropped;
  }

  /** Well-formed records refused since creation (see record_intake.ts). */
  get refused(): number {
    return this.#intake.refused;
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
   * A record from the network (see record_intake.ts): stored, re-gossiped and announced unless
   * malformed, expired, not newer than ours or refused. `trusted`: it comes with the state an
   * admitting member handed us (see `Trust.recordProblem`). Returns `true` when it changed the map.
   */
  receive(v: unknown, from: string, trusted = false): boolean {
    return this.#intake.receive(v, from, trusted);
  }

  /**
   * Records from one message (a push-pull's, a gossip batch's), in the order that accepts each
   * whatever the batch's order (see record_intake.ts). Returns how many changed the map.
   * `quiet`: what they change is not gossiped on (an admitting member's view, handed to a joiner,
   * which the cluster already has).
   */
  receiveAll(list: readonly unknown[], from: string, trusted = false, quiet = false): number {
    return this.#intake.receiveAll(list, from, trusted, quiet);
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
