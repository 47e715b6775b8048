/**
 * A store opened with a clock waits on that clock: the pauses of an operation that met a lock,
 * the patience they measure, and the wait for the lock its connections share. A simulated world
 * hands every member its simulated clock; a wait for a lock on real timers ended (or not) by the
 * machine's speed, and the world's seeded run did not replay.
 *
 * Played with a real `file:` store: a transaction holds the store's lock; a second write waits.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SimClock } from "../../gossip/sim_clock.ts";
import { openStore } from "../../lib/store/open.ts";
import type { Store } from "../../lib/store/types.ts";
import { WriteLock } from "../../lib/store/write_lock.ts";
import { fileUrl, tempDir } from "./helpers.ts";

const test = suite("a store's waits on its clock");

/** The store's patience here, ms: short, so that a real timer would end it within the test. */
const PATIENCE_MS = 200;

/** Real ms the test waits to see a wait still pending: several patiences of real time. */
const REAL_WAIT_MS = 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Settles with "done", "busy" or the error's message, whichever the write ends with. */
function outcome(write: Promise<unknown>): { state: string } {
  const seen = { state: "pending" };
  write.then(
    () => (seen.state = "done"),
    (
      err: Error & { code?: string },
    ) => (seen.state = err.code === "SQLITE_BUSY" ? "busy" : err.message),
  );
  return seen;
}

/** Runs `fn` with a store on a simulated clock, its lock held by an open transaction. */
async function withHeldStore(
  fn: (store: Store, clock: SimClock) => Promise<void>,
): Promise<void> {
  const { dir, remove } = tempDir();
  const clock = new SimClock(1_000_000);
  const store = await openStore({ url: fileUrl(dir), busyTimeoutMs: PATIENCE_MS, clock });
  try {
    await store.client.execute("CREATE TABLE t (id integer)");
    const tx = await store.client.transaction("write");
    try {
      await fn(store, clock);
    } finally {
      await tx.rollback();
    }
  } finally {
    store.close();
    remove();
  }
}

test("a write waiting for the lock outlives its patience in real time, and fails busy once the clock passes it", async () => {
  await withHeldStore(async (store, clock) => {
    const seen = outcome(store.client.execute("INSERT INTO t VALUES (1)"));
    await sleep(REAL_WAIT_MS);
    assert.is(seen.state, "pending", "the wait ended on a real timer");
    clock.advance(PATIENCE_MS + 1);
    for (let i = 0; i < 50 && seen.state === "pending"; i++) await sleep(20);
    assert.is(seen.state, "busy");
  });
});

test("a write waiting for the lock takes it when the holder ends before the clock passes its patience", async () => {
  const { dir, remove } = tempDir();
  const clock = new SimClock(1_000_000);
  const store = await openStore({ url: fileUrl(dir), busyTimeoutMs: PATIENCE_MS, clock });
  try {
    await store.client.execute("CREATE TABLE t (id integer)");
    const tx = await store.client.transaction("write");
    const seen = outcome(store.client.execute("INSERT INTO t VALUES (1)"));
    clock.advance(PATIENCE_MS - 1);
    await sleep(REAL_WAIT_MS);
    assert.is(seen.state, "pending");
    await tx.commit();
    for (let i = 0; i < 50 && seen.state === "pending"; i++) await sleep(20);
    assert.is(seen.state, "done");
    const rows = await store.client.execute("SELECT count(*) AS n FROM t");
    assert.is(Number(rows.rows[0].n), 1);
  } finally {
    store.close();
    remove();
  }
});

test("a lock given timers ends a wait on them; one without ends it on real time", async () => {
  const clock = new SimClock(0);
  const simulated = new WriteLock(clock);
  const real = new WriteLock();
  const releases = [await simulated.acquire(10), await real.acquire(10)];
  const onSim = outcome(simulated.acquire(50));
  const onReal = outcome(real.acquire(50));
  await sleep(REAL_WAIT_MS / 2);
  assert.is(onReal.state, "busy", "real");
  assert.is(onSim.state, "pending", "simulated, before its clock moved");
  clock.advance(50);
  await sleep(0);
  assert.is(onSim.state, "busy", "simulated, after");
  for (const release of releases) release();
});

test.run();
