/**
 * A restarted member's first batch writes only the member rows that differ from what its store
 * holds (issue 15's wake-up: its start writes its own row, with its new versions, before it
 * announces them, and that write waited for every member row to be rewritten as it was).
 * Whole members on the simulated clock, the restarted one on a file store; rows counted by a
 * trigger (a file store's transactions run on connections of their own, which `total_changes()`
 * on the member's connection does not see).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PERSIST_INTERVAL_MS } from "../../lib/daemon/persistence.ts";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { MemoryCluster } from "../helpers/memory_member.ts";

/** Counts the member rows written from now on, in the store of `d` (see {@link rowsCounted}). */
async function countRows(sim: MemoryCluster, d: Daemon): Promise<void> {
  for (
    const q of [
      "CREATE TABLE test_rows (n INTEGER NOT NULL)",
      "INSERT INTO test_rows VALUES (0)",
      "CREATE TRIGGER test_rows_i AFTER INSERT ON core_cluster_members BEGIN UPDATE test_rows SET n = n + 1; END",
      "CREATE TRIGGER test_rows_u AFTER UPDATE ON core_cluster_members BEGIN UPDATE test_rows SET n = n + 1; END",
    ]
  ) await sim.drive(d.sql(q));
}

/** What the counter of {@link countRows} says in the store of a stopped member in `dir`. */
async function storedCount(dir: string): Promise<number> {
  const client = createClient({ url: `file:${join(dir, "database", "cohort.db")}` });
  try {
    const r = await client.execute("SELECT n FROM test_rows");
    return Number((r.rows[0] as Record<string, unknown>).n);
  } finally {
    client.close();
  }
}

/** The member rows written since {@link countRows}. */
async function rowsCounted(sim: MemoryCluster, d: Daemon): Promise<number> {
  const r = await sim.drive(d.sql("SELECT n FROM test_rows"));
  return Number((r.rows[0] as Record<string, unknown>).n);
}

const test = suite("view persistence after a restart");

test("a restart rewrites none of the member rows its store holds as they are", async () => {
  const sim = new MemoryCluster(3);
  const dir = mkdtempSync(join(tmpdir(), "cohort-persist-restart-"));
  try {
    const daemons = await sim.form(
      5,
      (i) => i === 5 ? { stateDir: dir, databaseUrl: undefined } : {},
    );
    await sim.run(5000);
    await countRows(sim, daemons[4]);
    await sim.drive(daemons[4].stop());
    await sim.run(1000);
    // Stopping wrote every heartbeat: the count from here on is the restart's.
    const stopped = await storedCount(dir);
    const again = await sim.start("m5", { stateDir: dir, databaseUrl: undefined });
    assert.is(again.status(), "online");
    await sim.run(PERSIST_INTERVAL_MS + 500);
    const rows = await sim.drive(again.sql("SELECT name FROM core_cluster_members"));
    assert.is(rows.rows.length, 5, "the store lists every member");
    // Its own row (its heartbeat, as of this run) at most; before: all five, rewritten as they were.
    const written = await rowsCounted(sim, again) - stopped;
    assert.ok(written <= 1, `${written} rows written since the restart`);
    await sim.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
