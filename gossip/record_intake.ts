/**
 * Records arriving from the network, one message's at a time: each validated (a malformed one
 * dropped, counted, and logged at most once per 10 s), ignored when expired or not newer than
 * the record held, and refused (counted, logged at most once per 10 s) when
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
 * whatever its order.
 *
 * Separate from the record table (records.ts), which holds the map and its merge rule: this is
 * where what peers send is bounded, before anything reaches the map.
 *
 * @module
 */
import type { Clock } from "../lib/cluster/clock.ts";
import type { ReplicatedRecord } from "../lib/cluster/replicated_record.ts";
import { compareRecords, sameJson } from "../lib/cluster/replicated_record.ts";
import type { Trust } from "../lib/cluster/trust.ts";
import type { Logger } from "../lib/log.ts";
import { recordProblem } from "./record_shape.ts";

/**
 * How far ahead of the receiver's clock a record's version may be, in ms (1 hour): clocks of
 * members must roughly agree anyway (records expire by each member's own clock).
 */
export const MAX_VERSION_AHEAD_MS = 3_600_000;

/** Records the trust may refuse per sender per second before the sender's go unchecked. */
export const REFUSAL_BUDGET = 64;

/** The record table as the intake sees it. */
export interface IntakeTable {
  /** The unexpired record held under `kind`/`key`. */
  get(kind: string, key: string): ReplicatedRecord | undefined;
  /** Whether any record, expired or not, is held under `kind`/`key` (it takes no new place). */
  holds(kind: string, key: string): boolean;
  /** Records held, expired ones not yet purged included. */
  readonly size: number;
  /** Whether `r` has expired at clock ms `now`. */
  expired(r: ReplicatedRecord, now: number): boolean;
  /** Stores `r` in place of `previous`, gossips it on unless `quiet`, and announces it. */
  accept(r: ReplicatedRecord, previous: ReplicatedRecord | undefined, quiet: boolean): void;
}

/** What the intake is built with. */
export interface IntakeContext {
  /** The wall clock records are dated by. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** The engine's trust (read at each use: it is built after the table). */
  readonly trust: () => Trust;
  /** Most records held; a new key beyond is refused. */
  readonly maxRecords: number;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** One member's intake of records from the network (see the module comment). */
export class RecordIntake {
  readonly #table: IntakeTable;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #trust: () => Trust;
  readonly #max: number;
  #loggedAt = -Infinity;
  #refusedLoggedAt = -Infinity;
  /** Trust refusals in the current second, by sender. */
  #refusals = new Map<string, number>();
  #second = -Infinity;
  /** Records dropped as malformed since creation. */
  dropped = 0;
  /** Well-formed records refused since creation (out of range, table full, or by the trust). */
  refused = 0;

  constructor(table: IntakeTable, ctx: IntakeContext) {
    this.#table = table;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#trust = ctx.trust;
    this.#max = ctx.maxRecords;
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
      const held = this.#table.get(v.kind, v.key);
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
    if (this.#table.expired(r, now)) return "ignored";
    const cur = this.#table.get(r.kind, r.key);
    if (cur && compareRecords(r, cur) <= 0 && !this.#trust().overrides?.(r, cur)) {
      return "ignored";
    }
    let refusal: string | undefined;
    if (r.version > now + MAX_VERSION_AHEAD_MS) {
      refusal = `version is ${
        Math.round((r.version - now) / 1000)
      } s ahead of this member's clock (at most ${MAX_VERSION_AHEAD_MS / 1000} s)`;
    } else if (!this.#table.holds(r.kind, r.key) && this.#table.size >= this.#max) {
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
    this.#table.accept(r, cur, quiet);
    return "stored";
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
}
