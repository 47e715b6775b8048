/**
 * A member's record table and its trust, built together: the trust reads the records (whose is
 * which key, who is a member) and hears of each change, and the table asks the trust whether a
 * record received may be stored. Each needs the other, so one is handed the other lazily.
 *
 * Separate from the engine (engine.ts) so that this knot is tied in one place, in the one order
 * that works: the table first (restored before the trust reads it), then the trust.
 *
 * @module
 */
import type { Clock } from "../lib/cluster/clock.ts";
import { wallClockOf } from "../lib/cluster/clock.ts";
import type { ReplicatedRecord } from "../lib/cluster/replicated_record.ts";
import type { Trust, TrustFactory } from "../lib/cluster/trust.ts";
import type { Logger } from "../lib/log.ts";
import type { Emitter } from "./events.ts";
import type { RecordUpdate } from "./messages.ts";
import { RecordTable } from "./records.ts";

/** What {@link createRecordsAndTrust} builds both from. */
export interface RecordTrustContext {
  /** This member's name (the origin of its own records). */
  readonly name: string;
  /** The member's clock: record versions and expiry are read on its wall clock. */
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: Emitter;
  /** Most records held (see `GossipConfig.maxRecords`). */
  readonly maxRecords: number;
  /** Records the member starts with (restored from its store). */
  readonly restored?: readonly ReplicatedRecord[];
}

/** What the member does when its records change. */
export interface RecordTrustHooks {
  /** Queues a record update under broadcast key `key` (replacing an older one) and pushes it. */
  queue(key: string, update: RecordUpdate): void;
  /** Drops the update queued under `key`. */
  unqueue(key: string): void;
  /** A record was stored; called after the trust heard of it. */
  changed(): void;
}

/** Builds the record table (with `restored` in it) and then the trust from `factory`. */
export function createRecordsAndTrust(
  factory: TrustFactory,
  ctx: RecordTrustContext,
  hooks: RecordTrustHooks,
): { readonly records: RecordTable; readonly trust: Trust } {
  const changes: ((r: ReplicatedRecord, previous: ReplicatedRecord | undefined) => void)[] = [];
  // Versions and expiry are dates, shared with other members: the wall clock.
  const wall = wallClockOf(ctx.clock);
  const records = new RecordTable(ctx.name, {
    clock: wall,
    logger: ctx.logger,
    events: ctx.events,
    // Read at each use, never while restoring: the trust is built next.
    trust: () => trust,
    maxRecords: ctx.maxRecords,
  }, {
    queue: hooks.queue,
    unqueue: hooks.unqueue,
    changed: (r, previous) => {
      for (const fn of changes) fn(r, previous);
      hooks.changed();
    },
  });
  if (ctx.restored) records.restore(ctx.restored);
  const trust = factory({
    name: ctx.name,
    now: () => wall.now(),
    records: {
      setRecord: (kind, key, value, options) => records.set(kind, key, value, options),
      record: (kind, key) => records.get(kind, key),
      records: (kind) => records.list(kind),
    },
    onRecordChange: (fn) => void changes.push(fn),
  });
  return { records, trust };
}
