/**
 * What removals leave behind, on whole members in one process (a simulated clock whose wall
 * clock steps days ahead). Found by the soak benchmark (`scripts/bench/soak.ts`): every removal
 * left a roster tombstone that no member ever dropped, in memory, in every push-pull's state and
 * in every store, so a cluster that replaces machines under new names grew with every removal
 * it ever made, until its record table (8192 records, tokens and tombstones included) was full
 * and refused the next member's record. A removal is now forgotten
 * {@link TOMBSTONE_LAPSE_MS} after it, and a member record that comes back later (from a
 * member that was away all that time) is refused as the removed incarnation it is. The gossip
 * table, which kept a removed member a day (dead or left), forgets it at its next reap.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { TOMBSTONE_LAPSE_MS } from "../../lib/cluster/replicated_record.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import { memberAddress, MemoryCluster, networkOf } from "../helpers/memory_member.ts";

const test = suite<{ sim: MemoryCluster }>("removals are forgotten in time");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(41);
});

test.after.each(async ({ sim }) => {
  await sim.stop();
});

const names = async (d: Daemon) => (await d.clusterMembers()).map((e) => e.name).sort();
/** Roster records held in memory (tombstones included) and rows in the store. */
async function held(d: Daemon): Promise<{ memory: number; rows: number }> {
  const { rows } = await d.sql(`SELECT count(*) AS n FROM core_records WHERE kind = 'member'`);
  return {
    memory: networkOf(d).gossip.records(MEMBER_RECORD).length,
    rows: Number((rows[0] as { n: number }).n),
  };
}

/** Removes the member `name` through `via` and joins `d` (its reset daemon) as `next`. */
async function replace(sim: MemoryCluster, via: Daemon, d: Daemon, name: string, next: string) {
  await sim.drive(via.removeMember(name, false));
  assert.ok(await sim.until(() => d.status() === "uninitialized", 20_000), `${name} reset`);
  const token = await sim.drive(via.createToken(next, 0));
  // Its reset ends a moment after its status says uninitialised: an operator's init retries.
  for (let tries = 1;; tries++) {
    try {
      return await sim.drive(
        d.initialize({
          bootstrap: false,
          name: next,
          address: memberAddress(3),
          join_token: token,
        }),
      );
    } catch (err) {
      if (tries === 50 || !/resetting after its removal/.test(String(err))) throw err;
      await sim.run(200);
    }
  }
}

test("twelve removals leave no trace once their tombstones lapsed", async ({ sim }) => {
  const [m1, m2, m3] = await sim.form(3);
  await sim.run(2000);
  let name = "m3";
  for (let k = 1; k <= 12; k++) {
    await replace(sim, m1, m3, name, `r${k}`);
    name = `r${k}`;
    await sim.run(1000);
  }
  await sim.run(5000);
  for (const d of [m1, m2, m3]) {
    assert.equal(await names(d), ["m1", "m2", name]);
    assert.equal((await held(d)).memory, 15, "3 members, 12 tombstones");
  }
  // Days pass; the reap and the next store write run.
  sim.wallStepMs = TOMBSTONE_LAPSE_MS + 60_000;
  await sim.run(20_000);
  await sim.drive(m1.createToken("later", 0));
  await sim.run(5000);
  for (const d of [m1, m2, m3]) {
    assert.equal(await names(d), ["m1", "m2", name]);
    assert.equal(await held(d), { memory: 3, rows: 3 }, "only the live members' records");
  }
  // The cluster still works: a removal and a join after the lapse.
  await replace(sim, m2, m3, name, "last");
  await sim.run(5000);
  for (const d of [m1, m2, m3]) assert.equal(await names(d), ["last", "m1", "m2"]);
});

test("removed members leave the gossip table at once, not a day later", async ({ sim }) => {
  // The gossip layer forgets a dead or left member after 24 h (serf's timeouts): for a removed
  // member, every push-pull's state carried it, and the members of a cluster that replaces
  // machines piled up until the table's cap (4096) left no room for a joiner.
  const [m1, m2, m3, m4] = await sim.form(4);
  await sim.run(2000);
  await sim.drive(m4.stop());
  sim.peers.setReachable(memberAddress(4), false);
  await sim.run(5000);
  await sim.drive(m1.removeMember("m4", true));
  await sim.drive(m1.removeMember("m3", false));
  await sim.run(20_000);
  for (const d of [m1, m2]) {
    const gossip = networkOf(d).gossip;
    assert.equal([gossip.stateOf("m3"), gossip.stateOf("m4")], [undefined, undefined]);
    assert.equal(await names(d), ["m1", "m2"]);
  }
  assert.is(m3.status(), "uninitialized");
});

test("a removed member's record brought back after its removal lapsed is refused", async ({ sim }) => {
  const [m1, m2] = await sim.form(4);
  await sim.run(2000);
  // m4 is cut off and holds m3's record while m3 is removed, then stays away past the lapse.
  sim.net.partition([memberAddress(1), memberAddress(2), memberAddress(3)], [memberAddress(4)]);
  sim.peers.setReachable(memberAddress(4), false);
  await sim.drive(m1.removeMember("m3", false));
  await sim.run(5000);
  for (const d of [m1, m2]) assert.equal(await names(d), ["m1", "m2", "m4"]);
  sim.wallStepMs = TOMBSTONE_LAPSE_MS + 60_000;
  await sim.run(20_000);
  assert.equal((await held(m1)).memory, 3, "m1 forgot the removal");
  sim.net.heal();
  sim.peers.setReachable(memberAddress(4), true);
  await sim.run(40_000);
  for (const d of [m1, m2]) {
    assert.equal(await names(d), ["m1", "m2", "m4"], "m3 stays removed");
    assert.equal((await held(d)).memory, 3);
  }
});

test.run();
