/**
 * The view's persistence writes what changed and nothing else: an idle member writes nothing
 * (and has no timer for it), a change writes its batch once, a member row is rewritten only when
 * a field other than its heartbeat changed or its heartbeat moved by `HEARTBEAT_PERSIST_MS`, and
 * a stopping member writes every heartbeat. Whole members on the simulated clock; rows counted
 * with SQLite's `total_changes()` on the member's own store connection.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import type { Member } from "../../lib/daemon/member.ts";
import { HEARTBEAT_PERSIST_MS } from "../../lib/daemon/member_rows.ts";
import { PERSIST_INTERVAL_MS } from "../../lib/daemon/persistence.ts";
import { MemoryCluster, rowsWritten } from "../helpers/memory_member.ts";

const test = suite<{ sim: MemoryCluster }>("view persistence");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(5);
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

async function heartbeats(d: Daemon): Promise<Map<string, number>> {
  const r = await d.sql("SELECT name, heartbeat FROM core_cluster_members");
  return new Map(
    (r.rows as Record<string, unknown>[]).map((row) => [String(row.name), Number(row.heartbeat)]),
  );
}

test("an idle member writes nothing; a change writes its own rows, not every member row", async ({ sim }) => {
  const [m1, m2] = await sim.form(3);
  await sim.run(10_000); // formed, roles settled, batches written
  const before = await rowsWritten(m1);
  await sim.run(30_000);
  assert.is(await rowsWritten(m1), before, "30 idle seconds wrote nothing");
  // An app record: one record row (the batch's expiry sweep deletes nothing); no member row,
  // although every member's heartbeat moved a little since the last batch.
  await sim.drive(m2.records.put("k", 1));
  await sim.until(() => m1.records.get("k") !== undefined, 10_000);
  await sim.run(PERSIST_INTERVAL_MS + 500);
  const after = await rowsWritten(m1);
  assert.ok(after - before <= 1 + 3, `at most the record and the heartbeats moved enough`);
  const batch = after;
  await sim.drive(m2.records.put("k", 2));
  await sim.until(() => m1.records.get("k")?.value === 2, 10_000);
  await sim.run(PERSIST_INTERVAL_MS + 500);
  assert.is(await rowsWritten(m1), batch + 1, "a second change soon after: its record row alone");
});

test("a heartbeat that moved far enough is written with the next batch, every heartbeat at stop", async ({ sim }) => {
  const [m1, m2] = await sim.form(3);
  await sim.run(10_000);
  const stored = await heartbeats(m1);
  await sim.run(HEARTBEAT_PERSIST_MS + 1000);
  await sim.drive(m2.records.put("k", 1));
  await sim.until(() => m1.records.get("k") !== undefined, 10_000);
  await sim.run(PERSIST_INTERVAL_MS + 500);
  const moved = await heartbeats(m1);
  for (const name of ["m1", "m2", "m3"]) {
    assert.ok(
      moved.get(name)! - stored.get(name)! >= HEARTBEAT_PERSIST_MS,
      `${name}'s heartbeat: ${stored.get(name)} → ${moved.get(name)}`,
    );
  }
  // Within the slack, a batch leaves heartbeats as they were; stopping writes them all.
  await sim.run(3000);
  await sim.drive(m2.records.put("k", 2));
  await sim.until(() => m1.records.get("k")?.value === 2, 10_000);
  await sim.run(PERSIST_INTERVAL_MS + 500);
  assert.equal(await heartbeats(m1), moved, "moved less than the slack: not rewritten");
  const member = (m1 as unknown as { member: Member }).member;
  const stopping = sim.clock.now();
  await sim.drive(member.network!.close(false));
  const rows = await member.store.client.execute(
    "SELECT name, heartbeat FROM core_cluster_members",
  );
  const self = rows.rows.find((r) => r.name === "m1")!;
  assert.ok(Number(self.heartbeat) >= stopping, "its own heartbeat as of the stop");
  for (const r of rows.rows) {
    if (r.name === "m1") continue;
    assert.ok(Number(r.heartbeat) > moved.get(String(r.name))!, `${r.name}'s heartbeat at stop`);
  }
});

test.run();
