/**
 * The app's own writes (through the store's client, on the event loop) never checkpoint the WAL
 * themselves: a member's main connection runs with `wal_autocheckpoint = 0`, so that its commits
 * never wait for a checkpoint's fsync on the event loop (`thread_writer.ts`). The writer thread
 * checkpoints instead, after the client's operations. Without that, an app that writes while the
 * member itself writes nothing (an idle member writes nothing) grew the `-wal` file without
 * bound: every commit appended and nothing moved the log back into the database.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { openStore, type Store } from "../../lib/store/open.ts";
import { CHECKPOINT_DELAY_MS, writerOf } from "../../lib/store/thread_writer.ts";
import { fileUrl, tempDir } from "./helpers.ts";

const test = suite<{ store: Store; dir: string; remove: () => void }>("store: the WAL's growth");

test.before.each(async (ctx) => {
  const { dir, remove } = tempDir();
  ctx.dir = dir;
  ctx.remove = remove;
  ctx.store = await openStore({ url: fileUrl(dir) });
});

test.after.each((ctx) => {
  ctx.store.close();
  ctx.remove();
});

/** The size of the database's `-wal` file, in bytes (0 when there is none). */
function walBytes(dir: string): number {
  try {
    return statSync(join(dir, "db.sqlite-wal")).size;
  } catch {
    return 0;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("app-only writes: the writer checkpoints, and the log is reused instead of growing", async (ctx) => {
  const { store, dir } = ctx;
  assert.ok(writerOf(store.db), "a file: store has a writer thread");
  await store.client.execute("CREATE TABLE app_blobs (id INTEGER PRIMARY KEY, body BLOB)");
  const mib = 1024 * 1024;
  let largest = 0;
  // 6 rounds of 1 MiB each, with a pause past the checkpoint's delay between rounds, as an
  // app writing now and then: 6 MiB of log if nothing checkpoints.
  for (let round = 0; round < 6; round++) {
    await store.client.execute({
      sql: "INSERT INTO app_blobs (body) VALUES (randomblob(?))",
      args: [mib],
    });
    largest = Math.max(largest, walBytes(dir));
    await sleep(CHECKPOINT_DELAY_MS + 150);
    await writerOf(store.db)!.idle();
  }
  assert.ok(largest > 0, "the store writes through a WAL");
  assert.ok(
    largest < 3 * mib,
    `the log stays within a few rounds' writes: ${
      (largest / mib).toFixed(1)
    } MiB after 6 MiB written`,
  );
  const rows = await store.client.execute("SELECT count(*) AS n FROM app_blobs");
  assert.is(Number(rows.rows[0].n), 6, "every write kept");
});

/** How many timers the process holds that keep it running (Node and Deno alike). */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

test("closing the store with a checkpoint pending clears its timer: nothing keeps the process up", async (ctx) => {
  const { store } = ctx;
  await store.client.execute("CREATE TABLE app_notes (body TEXT)");
  await sleep(CHECKPOINT_DELAY_MS + 150); // the table's checkpoint ran
  await writerOf(store.db)!.idle();
  const before = timers();
  await store.client.execute({ sql: "INSERT INTO app_notes VALUES (?)", args: ["note"] });
  assert.is(timers(), before + 1, "an operation of the client arms the writer's checkpoint");
  store.close();
  assert.is(timers(), before, "close clears the pending checkpoint's timer");
});

test("a checkpoint asked for runs after the writes queued before it, and idle waits for it", async (ctx) => {
  const { store, dir } = ctx;
  const writer = writerOf(store.db)!;
  await store.client.execute("CREATE TABLE blobs (b BLOB)");
  const file = () => statSync(join(dir, "db.sqlite")).size;
  const before = file();
  // Commits append to the log: the database file grows only when a checkpoint copies them in.
  const writes = Array.from(
    { length: 20 },
    () => writer.write([{ sql: "INSERT INTO blobs VALUES (randomblob(4096))", params: [] }]),
  );
  let checkpointed = false;
  const checkpoint = writer.checkpoint().then(() => (checkpointed = true));
  await writer.idle();
  assert.ok(checkpointed, "idle waits for the checkpoint");
  await checkpoint;
  await Promise.all(writes);
  assert.ok(
    file() >= before + 20 * 4096,
    `the database file took the rows in (${before} -> ${file()})`,
  );
});

test.run();
