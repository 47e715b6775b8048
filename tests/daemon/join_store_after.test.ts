/**
 * A joiner's store takes in the view the admitting member handed it after `init --token` has its
 * answer, not while the join completes. Until then `join_view.json` keeps that view (README,
 * "Crashes": the command returns once the join is committed, before the store holds the view),
 * so the store's write is not part of what the answer says. Written while the join completed
 * (every roster record and member row, in parts of 32 a turn, each a Drizzle statement and a
 * transaction), it took turns of the joiner's event loop between the join's own steps (1-2 ms
 * of its CPU at N = 50), each a turn the answer waited for on a loaded machine (issue 15:
 * `init --token` within 1 s of its acceptance). Whole members on the simulated clock,
 * `:memory:` stores.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { join as joinPath } from "node:path";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

interface Ctx {
  sim: MemoryCluster;
}

const test = suite<Ctx>("a joiner's store takes the view in after the answer");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(7);
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

/** The roster as `d`'s store holds it: its member records' keys and its member rows' names. */
async function storedRoster(d: Daemon): Promise<{ records: string[]; rows: string[] }> {
  const names = async (query: string) =>
    (await d.sql(query)).rows.map((r) => String((r as Record<string, unknown>).name)).sort();
  return {
    records: await names("SELECT key AS name FROM core_records WHERE kind = 'member'"),
    rows: await names("SELECT name FROM core_cluster_members"),
  };
}

test("init --token answers before the store writes the handed view; the store holds it after", async ({ sim }) => {
  const [m1] = await sim.form(3);
  const m4 = await sim.start("m4");
  const token = await sim.drive(m1.createToken("m4", 0));
  const keptView = joinPath(m4.paths.dir, "join_view.json");
  let atAnswer: Promise<{ records: string[]; rows: string[] }> | undefined;
  let viewKept = false;
  // Read the moment the answer comes, before the simulated clock moves on.
  const join = m4.initialize({
    bootstrap: false,
    name: "m4",
    address: memberAddress(4),
    join_token: token,
  }).then(() => {
    atAnswer = storedRoster(m4);
    viewKept = existsSync(keptView);
  });
  await sim.drive(join);
  assert.is(m4.status(), "online");
  assert.equal(
    await atAnswer,
    { records: [], rows: [] },
    "the store held (part of) the view when the answer came",
  );
  assert.ok(viewKept, "join_view.json kept the view while the store did not hold it");
  // What the answer says holds without the store: the member lists the cluster from its view.
  assert.equal((await m4.clusterMembers()).map((e) => e.name).sort(), ["m1", "m2", "m3", "m4"]);
  const all = ["m1", "m2", "m3", "m4"];
  let stored = await storedRoster(m4);
  for (let t = 0; t < 10_000 && stored.rows.length < all.length; t += 100) {
    await sim.run(100);
    stored = await storedRoster(m4);
  }
  assert.equal(stored, { records: all, rows: all }, "the store took the view in after the answer");
  assert.ok(
    await sim.until(() => !existsSync(keptView), 10_000),
    "join_view.json stayed once the store held the view",
  );
});

test("a join that fails after its network started leaves no held store write behind: the member stops", async ({ sim }) => {
  const [m1] = await sim.form(2);
  const m3 = await sim.start("m3", {
    hooks: {
      preJoin: () => {
        throw new Error("refused by the app");
      },
    },
  });
  const token = await sim.drive(m1.createToken("m3", 0));
  const err = await sim.drive(
    m3.initialize({ bootstrap: false, name: "m3", address: memberAddress(3), join_token: token })
      .then(() => undefined, (e: unknown) => e),
  );
  assert.ok(err instanceof Error && /refused by the app/.test(err.message), String(err));
  assert.is(m3.status(), "uninitialized");
  // Its network's stop flushes the store one last time: a hold never let go would keep it.
  await sim.drive(m3.stop(), 10, 30_000);
});

test.run();
