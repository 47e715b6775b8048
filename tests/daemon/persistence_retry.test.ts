/**
 * The view's persistence: what a flush could not write is written by the next one. A removed
 * member's row is deleted even when the first delete fails (it used to be forgotten, leaving a
 * removed member in the store for good). `afterWritten` (what a joiner waits for before it
 * drops the view it kept in `join_view.json`) is called only once a batch started after it
 * wrote whole, never after a failed one. A run of failed batches (a full disk fails every one) is
 * logged once as it starts, again when its error changes or a minute later, and once as a batch
 * writes again (it logged every batch: each second, and in bursts).
 */
import * as assert from "uvu/assert";
import { systemClock } from "../../lib/cluster/clock.ts";
import { MEMBER_RECORD, TOKEN_RECORD } from "../../lib/cluster/roster.ts";
import { createLogger, silentLogger } from "../../lib/log.ts";
import { FAILURE_LOG_INTERVAL_MS } from "../../lib/daemon/persist_failures.ts";
import { ViewPersistence } from "../../lib/daemon/persistence.ts";
import type { ClusterView } from "../../lib/daemon/view.ts";
import { insertMember, listMembers } from "../../lib/store/members.ts";
import { loadRecords } from "../../lib/store/records.ts";
import { openStore, type Store } from "../../lib/store/open.ts";
import { coreClusterMembers, coreTokenRecords } from "../../lib/store/schema.ts";
import { listTokens } from "../../lib/store/tokens.ts";
import { asyncFiles, useFiles } from "../../lib/files.ts";
import { removeDir, tempDir } from "../helpers/process.ts";
import { suite } from "../helpers/suite.ts";

const test = suite<{ store: Store }>("view persistence");

test.before.each(async (ctx) => {
  ctx.store = await openStore({ url: ":memory:" });
  await insertMember(ctx.store, { name: "m1", address: "10.0.0.1:7443", certificate: "c1" });
  await insertMember(ctx.store, { name: "m2", address: "10.0.0.2:7443", certificate: "c2" });
});
test.after.each(({ store }) => store.close());

/**
 * A persistence over `store` whose first `failures` deletes of member rows fail (disk I/O), and
 * how many of those failures are still to come.
 */
function persistenceFailing(
  store: Store,
  failures: number,
  options: {
    now?: () => number;
    lines?: string[];
    error?: () => [string, string];
    durable?: () => Promise<void>;
  } = {},
): { persistence: ViewPersistence; failuresLeft: () => number; fail: (n: number) => void } {
  const db = new Proxy(store.db, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== "delete") return value;
      return (table: unknown) => {
        if (table === coreClusterMembers && failures > 0) {
          failures--;
          const [message, code] = options.error?.() ?? ["disk I/O error", "SQLITE_IOERR"];
          throw Object.assign(new Error(message), { code });
        }
        return value.call(target, table);
      };
    },
  });
  const persistence = new ViewPersistence({
    store: { ...store, db },
    view: {} as ClusterView,
    clock: { ...systemClock, now: options.now ?? (() => 1_000) },
    entries: () => [],
    logger: options.lines
      ? createLogger({ level: "info", write: (line) => options.lines!.push(line) })
      : silentLogger,
    durable: options.durable,
  });
  return { persistence, failuresLeft: () => failures, fail: (n) => void (failures += n) };
}

test("a token table whose replacement failed is replaced by the next flush, though its records were written", async ({ store }) => {
  // The token records go into core_records first, then the table of live tokens is replaced:
  // when only the replacement failed (a nearly full disk), the retry had no token record left
  // to write and never replaced the table: tokens missing from it until the next token came.
  const hash = (i: number) => i.toString(16).padStart(64, "0");
  const tokens = [1, 2, 3].map((i) => ({
    kind: TOKEN_RECORD,
    key: hash(i),
    value: { name: `t${i}`, expiresAt: null, createdAt: 1 },
    version: 1,
    origin: "m1",
  }));
  let failures = 1;
  const db = new Proxy(store.db, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== "delete") return value;
      return (table: unknown) => {
        if (table === coreTokenRecords && failures > 0) {
          failures--;
          throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
        }
        return value.call(target, table);
      };
    },
  });
  const persistence = new ViewPersistence({
    store: { ...store, db },
    view: { gossip: { records: () => tokens } } as unknown as ClusterView,
    clock: { ...systemClock, now: () => 1_000 },
    entries: () => [],
    logger: silentLogger,
  });
  for (const record of tokens) {
    persistence.onChange({ kind: "record", record, previous: undefined });
  }
  await persistence.flush();
  assert.is(failures, 0, "the replacement failed once");
  assert.ok(persistence.dirty, "something is left to write");
  await persistence.flush();
  const names = (await listTokens(store, 1_000)).map((t) => t.name);
  assert.equal(names, ["t1", "t2", "t3"]);
  assert.not.ok(persistence.dirty);
});

test("a removed member's row whose delete failed is deleted by the next flush", async ({ store }) => {
  const { persistence, failuresLeft } = persistenceFailing(store, 1);
  persistence.onChange({
    kind: "record",
    record: { kind: MEMBER_RECORD, key: "m2", value: null, version: 2, origin: "m1" },
    previous: { kind: MEMBER_RECORD, key: "m2", value: {}, version: 1, origin: "m1" },
    removed: { name: "m2", hadJoined: true },
  });
  // A roster change starts a flush at once (it fails to delete); this one follows it.
  await persistence.flush();
  assert.is(failuresLeft(), 0, "the first delete failed");
  assert.equal((await listMembers(store)).map((m) => m.name), ["m1"]);
});

test("afterWritten is called once a later batch wrote whole, not after a failed one", async ({ store }) => {
  const { persistence, failuresLeft } = persistenceFailing(store, 2);
  const seen: string[][] = [];
  // A roster change starts a batch at once; the callback is registered while it runs, after a
  // second change that batch does not hold.
  persistence.onChange({
    kind: "record",
    record: { kind: MEMBER_RECORD, key: "m2", value: null, version: 2, origin: "m1" },
    previous: { kind: MEMBER_RECORD, key: "m2", value: {}, version: 1, origin: "m1" },
    removed: { name: "m2", hadJoined: true },
  });
  persistence.onChange({
    kind: "record",
    record: { kind: "app", key: "late", value: { v: 1 }, version: 1, origin: "m1" },
    previous: undefined,
  });
  persistence.afterWritten(() => {
    seen.push([]);
    const at = seen.length - 1;
    void loadRecords(store, 0).then((rs) => seen[at].push(...rs.map((r) => r.key)));
  });
  // Both batches fail (the delete); what follows a failure in a batch is promise steps only.
  for (let i = 0; failuresLeft() > 0 && i < 5000; i++) await new Promise((r) => setTimeout(r, 2));
  await new Promise((r) => setTimeout(r, 0));
  assert.is(failuresLeft(), 0, "two batches failed");
  assert.is(seen.length, 0, "not called after a failed batch");
  await persistence.flush();
  assert.is(seen.length, 1, "called once, after the batch that wrote");
  await persistence.flush();
  assert.is(seen.length, 1, "called once only");
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(seen[0].includes("late"), `the later change was in the store when called: ${seen[0]}`);
  assert.equal((await listMembers(store)).map((m) => m.name), ["m1"]);
});

test("flushDurably rejects with what failed, the batch or the sync, and resolves once both did", async ({ store }) => {
  let syncs = 0;
  let syncFails = false;
  const { persistence, failuresLeft } = persistenceFailing(store, 2, {
    durable: () => {
      syncs++;
      if (!syncFails) return Promise.resolve();
      return Promise.reject(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }));
    },
  });
  persistence.onChange({
    kind: "record",
    record: { kind: MEMBER_RECORD, key: "m2", value: null, version: 2, origin: "m1" },
    previous: { kind: MEMBER_RECORD, key: "m2", value: {}, version: 1, origin: "m1" },
    removed: { name: "m2", hadJoined: true },
  });
  // The roster change's own batch fails, and so does the one flushDurably waits for.
  const failed = await persistence.flushDurably().then(() => undefined, (err: unknown) => err);
  assert.is(failuresLeft(), 0);
  assert.is((failed as { code?: string })?.code, "E_DISK", String(failed));
  assert.is(syncs, 0, "nothing synced after a failed batch");
  syncFails = true;
  const unsynced = await persistence.flushDurably().then(() => undefined, (err: unknown) => err);
  assert.is((unsynced as { code?: string })?.code, "EIO", "the sync's error");
  assert.equal((await listMembers(store)).map((m) => m.name), ["m1"], "written, not synced");
  syncFails = false;
  await persistence.flushDurably();
  assert.is(syncs, 2);
});

test("a run of failed batches is logged as it starts, changes, each minute, and as it ends", async ({ store }) => {
  let now = 1_000;
  let error: [string, string] = ["disk I/O error", "SQLITE_IOERR"];
  const lines: string[] = [];
  const { persistence, failuresLeft } = persistenceFailing(store, 8, {
    now: () => now,
    lines,
    error: () => error,
  });
  const removal = (name: string, version: number) =>
    persistence.onChange({
      kind: "record",
      record: { kind: MEMBER_RECORD, key: name, value: null, version, origin: "m1" },
      previous: { kind: MEMBER_RECORD, key: name, value: {}, version: version - 1, origin: "m1" },
      removed: { name, hadJoined: true },
    });
  removal("m2", 2);
  for (let i = 0; i < 3; i++) {
    now += 1000;
    await persistence.flush(); // fails: the delete
  }
  const logged = () =>
    lines.map((l) => JSON.parse(l)).map((
      l,
    ) => [l.msg, l.failures, l.err?.message.split(": ").pop()]);
  assert.equal(logged(), [[
    "Could not persist the cluster view; retrying",
    undefined,
    "disk I/O error",
  ]]);
  // Another message of the same kind: not logged.
  error = ["short write", "SQLITE_IOERR"];
  now += 1000;
  await persistence.flush();
  assert.is(lines.length, 1);
  error = ["database or disk is full", "SQLITE_FULL"];
  now += 1000;
  await persistence.flush();
  now += FAILURE_LOG_INTERVAL_MS - 1;
  await persistence.flush();
  now += 1;
  await persistence.flush();
  assert.is(failuresLeft(), 0, "eight batches failed (the first as the change came)");
  const still = "Still could not persist the cluster view; retrying";
  const full = "no space left on the member's disk (SQLITE_FULL)";
  assert.equal(logged().slice(1), [[still, 6, full], [still, 8, full]]);
  now += 1000;
  await persistence.flush();
  const last = JSON.parse(lines.at(-1)!);
  assert.equal([last.msg, last.failures], ["Persisted the cluster view again", 8]);
  assert.ok(last.after_ms > FAILURE_LOG_INTERVAL_MS, `the run lasted: ${last.after_ms} ms`);
  assert.is(lines.length, 4);
  assert.equal((await listMembers(store)).map((m) => m.name), ["m1"]);
});

test("a run that starts within a minute of the last warning, of the same kind, is not logged", async ({ store }) => {
  let now = 1_000;
  const lines: string[] = [];
  const { persistence, fail } = persistenceFailing(store, 1, { now: () => now, lines });
  const removal = (name: string) =>
    persistence.onChange({
      kind: "record",
      record: { kind: MEMBER_RECORD, key: name, value: null, version: 2, origin: "m1" },
      previous: { kind: MEMBER_RECORD, key: name, value: {}, version: 1, origin: "m1" },
      removed: { name, hadJoined: true },
    });
  const msgs = () => lines.map((l) => JSON.parse(l).msg);
  removal("m2"); // its flush fails
  await persistence.flush(); // writes
  assert.equal(msgs(), [
    "Could not persist the cluster view; retrying",
    "Persisted the cluster view again",
  ]);
  // A nearly full disk: small batches get through between failed ones.
  for (let i = 0; i < 5; i++) {
    now += 10_000;
    fail(1);
    removal(`m${3 + i}`); // fails
    await persistence.flush(); // writes
  }
  assert.is(lines.length, 2, msgs().join("\n"));
  now += FAILURE_LOG_INTERVAL_MS;
  fail(1);
  removal("m9");
  await persistence.flush();
  assert.equal(msgs().slice(2), [
    "Could not persist the cluster view; retrying",
    "Persisted the cluster view again",
  ]);
});

test("a sync of the store the disk refuses is a DiskError naming no path, one run with failed batches", async () => {
  // Met on a file system turned read-only under Deno: the fsync's own error ("Input/output error
  // (os error 5)", a plain Error) went to flushDurably's callers (a 500 for a removal) and began
  // a second run of warnings beside the batches' DiskError.
  const dir = tempDir("cohort-persist-sync-");
  const store = await openStore({ url: `file:${dir}/cohort.db` });
  const previous = useFiles({
    ...asyncFiles,
    sync: (path) =>
      Promise.reject(
        Object.assign(new Error(`Input/output error (os error 5): ${path}`), { code: "EIO" }),
      ),
  });
  const lines: string[] = [];
  try {
    const persistence = new ViewPersistence({
      store,
      view: {} as ClusterView,
      clock: systemClock,
      entries: () => [],
      logger: createLogger({ level: "info", write: (line) => lines.push(line) }),
    });
    persistence.onChange({
      kind: "record",
      record: { kind: MEMBER_RECORD, key: "m2", value: {}, version: 1, origin: "m1" },
      previous: undefined,
    });
    const failed = await persistence.flushDurably().then(() => undefined, (err: unknown) => err);
    const e = failed as { name?: string; code?: string; status?: number; message?: string };
    assert.is(e?.name, "DiskError", String(failed));
    assert.is(e.code, "E_DISK");
    assert.is(e.status, 507);
    assert.match(e.message!, /^Sync the database: the disk of its state directory failed/);
    assert.not.ok(e.message!.includes(dir), `no path: ${e.message}`);
  } finally {
    useFiles(previous);
    store.close();
    removeDir(dir);
  }
});

test.run();
