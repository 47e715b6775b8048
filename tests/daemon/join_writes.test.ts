/**
 * Issue 15: a joiner writes the view it is handed (every record and member row) a bounded part
 * per turn of its event loop, not in one synchronous write: written at once (with the batch its
 * join writes next, in the same task), a view of N = 50 held a joiner's loop 3.7 s on a loaded
 * machine while the members it had just been announced to probed it. Whole members in
 * simulated time; the joiner's rows counted with SQLite's `total_changes()` on its own store
 * connection after every step of the clock (one step is one turn for a write that yields
 * through a zero-delay timer).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ROWS_PER_TURN } from "../../lib/daemon/persistence.ts";
import { beginJoin, memberAddress, MemoryCluster, rowsWritten } from "../helpers/memory_member.ts";

const test = suite<{ sim: MemoryCluster }>("a joiner's writes of the view it is handed");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(11);
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

test("a view of 200 records is written over many turns, none above the bound", async ({ sim }) => {
  const [m1] = await sim.form(3);
  for (let i = 0; i < 200; i++) await sim.drive(m1.records.put(`k${i}`, { i }));
  await sim.run(3000);
  const joiner = await sim.start("jx");
  const token = await sim.drive(m1.createToken("jx", 0));
  const { join: joined, answered } = beginJoin(joiner, "jx", memberAddress(4), token);
  const steps: number[] = [];
  let last = await rowsWritten(joiner);
  // The join, then a second for what it left to write.
  for (let after = 0; after < 100; after += answered() ? 1 : 0) {
    await new Promise((r) => setTimeout(r, 1));
    const now = await rowsWritten(joiner);
    steps.push(now - last);
    last = now;
    sim.clock.advance(10);
    if (steps.length > 20_000) throw new Error("the join never ended");
  }
  await joined;
  assert.is(joiner.status(), "online");
  assert.is(joiner.records.get("k199")?.value !== undefined, true, "the records were taken in");
  const total = steps.reduce((a, b) => a + b, 0);
  assert.ok(total >= 200, `${total} rows written`);
  const most = Math.max(...steps);
  assert.ok(most <= ROWS_PER_TURN, `at most ${ROWS_PER_TURN} rows a turn: ${most}`);
  const stored = await joiner.sql("SELECT count(*) AS n FROM core_records WHERE kind = 'app'");
  assert.is(Number((stored.rows[0] as Record<string, unknown>).n), 200);
});

test.run();
