/**
 * A {@link RecordStore} in a map, with the gossip layer's merge rule and no network: what route
 * tests give {@link AppRecords} behind a fake member.
 */
import type { Clock } from "../../lib/cluster/clock.ts";
import type {
  RecordInput,
  RecordStore,
  ReplicatedRecord,
  SetRecordOptions,
} from "../../lib/cluster/replicated_record.ts";
import type { JsonValue } from "../../lib/json_value.ts";
import { silentLogger } from "../../lib/log.ts";
import { AppRecords } from "../../lib/records/records.ts";
import { UnavailableError } from "../../lib/errors.ts";

/** A record store in a map; `changed` hears every write. */
export function memoryRecordStore(
  clock: Clock,
  origin = "host1",
  changed?: (r: ReplicatedRecord, previous: ReplicatedRecord | undefined) => void,
): RecordStore {
  const map = new Map<string, ReplicatedRecord>();
  const live = (r: ReplicatedRecord | undefined) =>
    r && (r.expiresAt === undefined || r.expiresAt > clock.now()) ? r : undefined;
  return {
    setRecord(kind: string, key: string, value: RecordInput | null, o: SetRecordOptions = {}) {
      const cur = live(map.get(`${kind}\n${key}`));
      const now = Math.floor(clock.now());
      const version = !cur ? now : Math.max(now, cur.version + 1);
      const r: ReplicatedRecord = {
        kind,
        key,
        value: structuredClone(value) as JsonValue | null,
        version,
        origin,
        ...(o.lifetimeMs !== undefined
          ? { expiresAt: version + o.lifetimeMs }
          : o.expiresAt !== undefined
          ? { expiresAt: o.expiresAt }
          : {}),
      };
      map.set(`${kind}\n${key}`, r);
      changed?.(r, cur);
      return r;
    },
    record: (kind, key) => live(map.get(`${kind}\n${key}`)),
    records: (kind) => [...map.values()].filter((r) => r.kind === kind && live(r)),
  };
}

/** App records over a {@link memoryRecordStore}, available while `online()`. */
export function memoryRecords(clock: Clock, online: () => boolean): AppRecords {
  let records: AppRecords | undefined = undefined;
  const store = memoryRecordStore(clock, "host1", (r, p) => records?.notify(r, p));
  records = new AppRecords({
    store: () => (online() ? store : undefined),
    unavailable: () => new UnavailableError("Cannot use replicated records: not initialized"),
    flush: () => Promise.resolve(),
    name: () => "host1",
    logger: silentLogger,
  });
  return records;
}
