/**
 * A member's store writes leave its event loop free while SQLite works (issue 15: under I/O
 * pressure a commit held an established member's loop for 10.4 s, a joiner's first write of its
 * view 6.0 s, past the 500 ms probe timeout). The stall is injected: a trigger makes each
 * written row cost SQLite a cross join of a few million rows, as a commit waiting for the disk
 * would cost it time. While the write runs, a TCP echo server of the same process answers a
 * client of the same process (a probe's ack needs the same turns of the loop): before, not one
 * answer came until the write had ended. The write itself must stay what it was: all or
 * nothing, its errors as safe as the client's.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConflictError } from "../../lib/errors.ts";
import { silentLogger } from "../../lib/log.ts";
import { systemClock } from "../../lib/cluster/clock.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import { ViewPersistence } from "../../lib/daemon/persistence.ts";
import type { ClusterMemberEntry } from "../../lib/daemon/service.ts";
import type { ClusterView } from "../../lib/daemon/view.ts";
import { listMembers, upsertMembers } from "../../lib/store/members.ts";
import { openStore, type Store } from "../../lib/store/open.ts";
import { loadRecords, saveRecords } from "../../lib/store/records.ts";
import { MAX_STATEMENTS, writerOf } from "../../lib/store/thread_writer.ts";
import { replaceTokens } from "../../lib/store/tokens.ts";
import { fileUrl, tempDir } from "./helpers.ts";

const test = suite<{ store: Store; remove: () => void }>("store: writes off the event loop");

test.before.each(async (ctx) => {
  const { dir, remove } = tempDir();
  ctx.remove = remove;
  ctx.store = await openStore({ url: fileUrl(dir) });
});

test.after.each((ctx) => {
  ctx.store.close();
  ctx.remove();
});

/** Makes every row written to `table` cost SQLite a cross join of `n`² rows. */
async function stall(store: Store, table: string, n = 2500): Promise<void> {
  await store.client.execute("CREATE TABLE stall_n (x INTEGER)");
  await store.client.execute("CREATE TABLE stall_log (n INTEGER)");
  await store.client.execute({
    sql: "INSERT INTO stall_n WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c " +
      "WHERE x < ?) SELECT x FROM c",
    args: [n],
  });
  await store.client.execute(
    `CREATE TRIGGER stall_${table} AFTER INSERT ON ${table} BEGIN ` +
      "INSERT INTO stall_log SELECT count(*) FROM stall_n a, stall_n b; END",
  );
}

/**
 * Runs `write`, sending a line to an echo server of this process until it ended; returns how
 * many answers came back before the write ended.
 */
async function echoesDuring(write: () => Promise<unknown>): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("data", (d) => s.write(d));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const client = createConnection({ port, host: "127.0.0.1" });
  client.on("error", () => {});
  await new Promise<void>((resolve) => client.once("connect", () => resolve()));
  let answers = 0;
  let ended = false;
  client.on("data", () => {
    if (ended) return;
    answers++;
    client.write("ping\n");
  });
  try {
    client.write("ping\n");
    await write();
    ended = true;
    return answers;
  } finally {
    ended = true;
    client.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const record = (i: number) => ({
  kind: "app",
  key: `k${i}`,
  value: { i },
  version: i,
  origin: "m1",
});

test("a stalled write of records: the echo is answered while it runs", async ({ store }) => {
  await stall(store, "core_records");
  const answers = await echoesDuring(() => saveRecords(store, [record(1), record(2)], 0));
  assert.ok(answers >= 3, `only ${answers} echoes were answered while the write ran`);
  const stored = await loadRecords(store, 0);
  assert.equal(stored.map((r) => r.key).sort(), ["k1", "k2"]);
});

test("a stalled write of member rows: the echo is answered while it runs", async ({ store }) => {
  await stall(store, "core_cluster_members");
  const rows = [0, 1].map((i) => ({
    name: `m${i}`,
    address: `10.0.0.${i}:7443`,
    certificate: `C${i}`,
  }));
  const answers = await echoesDuring(() => upsertMembers(store, rows));
  assert.ok(answers >= 3, `only ${answers} echoes were answered while the write ran`);
  assert.equal((await listMembers(store)).map((m) => m.name), ["m0", "m1"]);
});

test("a joiner's first write of its view through its persistence: the echo is answered", async ({ store }) => {
  await stall(store, "core_cluster_members");
  const entries: ClusterMemberEntry[] = [0, 1, 2].map((i) => ({
    name: `m${i}`,
    address: `10.0.0.${i}:7443`,
    certificate: `C${i}`,
    fingerprint: `${i}`.padStart(64, "0"),
    role: "voter",
    schema_internal_version: 3,
    schema_external_version: 0,
    last_heartbeat: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    status: "ONLINE",
    extensions: ["a"],
    extension_verdict: { verdict: "same", missing: [], extra: [] },
    app_version: "1.0",
  }));
  const view = { remember() {} } as unknown as ClusterView;
  const p = new ViewPersistence({
    store,
    view,
    clock: systemClock,
    entries: () => entries,
    logger: silentLogger,
  });
  for (const e of entries) {
    const value = { address: e.address, certificate: e.certificate, fingerprint: e.fingerprint };
    p.onChange({
      kind: "record",
      record: { kind: MEMBER_RECORD, key: e.name, value, version: 1, origin: "m0" },
      previous: undefined,
    });
  }
  const answers = await echoesDuring(() => p.flush());
  assert.ok(answers >= 3, `only ${answers} echoes were answered while the view was written`);
  assert.equal((await listMembers(store)).map((m) => m.name), ["m0", "m1", "m2"]);
  assert.is((await loadRecords(store, 0)).length, 3);
});

test("a failed write is rolled back whole and its error names no value", async ({ store }) => {
  await upsertMembers(store, [{ name: "a", address: "10.0.0.1:7443", certificate: "SECRET-A" }]);
  const err = await upsertMembers(store, [
    { name: "b", address: "10.0.0.2:7443", certificate: "SECRET-B" },
    { name: "c", address: "10.0.0.3:7443", certificate: "SECRET-A" },
  ]).then(() => undefined, (e: unknown) => e);
  assert.instance(err, ConflictError);
  assert.match((err as Error).message, /certificate/);
  assert.not.match((err as Error).message, /SECRET/);
  assert.equal((await listMembers(store)).map((m) => m.name), ["a"]);
});

test("the writer and the client take turns: none fails busy", async ({ store }) => {
  const tokens = (round: number) => [{ name: `t${round}`, secretHash: "b".repeat(64) }];
  for (let round = 1; round <= 10; round++) {
    const tx = await store.client.transaction("write");
    const pending = replaceTokens(store, tokens(round)); // waits for the transaction
    await tx.execute(`CREATE TABLE IF NOT EXISTS app_${round} (id INTEGER)`);
    await tx.commit();
    tx.close();
    await Promise.all([
      pending,
      store.client.execute(`INSERT INTO app_${round} (id) VALUES (${round})`),
      saveRecords(store, [record(round)], 0),
    ]);
  }
  assert.is((await loadRecords(store, 0)).length, 10);
});

test("the writer keeps its statements: one prepared per text, however many writes", async ({ store }) => {
  const writer = writerOf(store.db);
  assert.ok(writer, "a file store has a writer");
  for (let round = 1; round <= 40; round++) await saveRecords(store, [record(round)], 0);
  // The upsert of one record and the delete of expired ones.
  assert.is(writer.statements, 2);
});

test("batches of any size keep a handful of statements: rows go in chunks of powers of two", async ({ store }) => {
  const writer = writerOf(store.db)!;
  for (let k = 1; k <= 40; k++) {
    await saveRecords(store, Array.from({ length: k }, (_, i) => record(i)), 0);
    await upsertMembers(
      store,
      Array.from({ length: k }, (_, i) => ({
        name: `m${i}`,
        address: `10.0.0.${i}:7443`,
        certificate: `C${i}`,
        heartbeat: k,
      })),
    );
  }
  // Per table chunks of 1, 2, 4, 8, 16 and 32 rows, and the delete of expired records (a text
  // per batch size before: 81 statements, about 25 KB of native memory each).
  assert.is(writer.statements, 13);
  assert.is((await loadRecords(store, 0)).length, 40);
  const members = await listMembers(store);
  assert.is(members.length, 40);
  assert.ok(members.every((m) => m.heartbeat === 40), "every row written by the last batch");
});

test("past its statement bound the writer starts a new connection, and writes go on", async ({ store }) => {
  const writer = writerOf(store.db)!;
  const n = MAX_STATEMENTS + 5;
  // n texts of their own (a comment tells them apart), then a write through the store.
  for (let k = 1; k <= n; k++) {
    await writer.write([{ sql: `SELECT ? /* ${k} */`, params: [k] }]);
  }
  assert.ok(writer.statements < MAX_STATEMENTS, `${writer.statements} statements kept`);
  await saveRecords(store, [record(1)], 0);
  assert.is((await loadRecords(store, 0)).length, 1);
});

test.run();
