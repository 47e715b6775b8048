/**
 * Whole members (daemon logic, gate, roles, tokens, store) in one process on the simulated clock,
 * the gossip engine on the in-memory transport, requests between members through MemoryPeers and
 * `:memory:` stores: the seam a whole-member simulation builds on. A cluster forms through the
 * real routes; a member cut off while it is force-removed stops serving the moment it sees its
 * own tombstone; every phase change is an event, logged in order.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import type { PhaseChange } from "../../lib/daemon/phase.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

interface Ctx {
  sim: MemoryCluster;
}

const test = suite<Ctx>("whole members on the simulated clock");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(7);
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

const address = memberAddress;

/** `name:STATUS` of every member `d` lists. */
async function statuses(d: Daemon): Promise<string> {
  return (await d.clusterMembers()).map((e) => `${e.name}:${e.status}`).join(",");
}

test("three members form a cluster through the real routes, on simulated time", async ({ sim }) => {
  const daemons = await sim.form(3);
  await sim.run(3000);
  for (const d of daemons) {
    assert.is(d.status(), "online");
    assert.is(await statuses(d), "m1:ONLINE,m2:ONLINE,m3:ONLINE");
  }
});

test("a member cut off while it is force-removed stops serving the moment it sees its tombstone", async ({ sim }) => {
  const [m1, , m3] = await sim.form(3);
  await sim.run(2000);
  const phases: PhaseChange[] = [];
  m3.on("phase", (c) => void phases.push(c));
  const at: number[] = [];
  m3.on("phase", (c) => void (c.to === "removed" && at.push(sim.clock.now())));
  sim.net.partition([address(1), address(2)], [address(3)]);
  sim.peers.setReachable(address(3), false);
  await sim.drive(m1.removeMember("m3", true));
  await sim.run(2000);
  assert.is(m3.status(), "online", "cut off, m3 cannot know yet");
  sim.net.heal();
  sim.peers.setReachable(address(3), true);
  const healed = sim.clock.now();
  assert.ok(await sim.until(() => at.length > 0, 20_000), "m3 learnt its removal");
  assert.ok(await sim.until(() => phases.length === 2, 20_000), JSON.stringify(phases));
  assert.ok(at[0] - healed < 16_000, `m3 learnt its removal ${at[0] - healed} ms after the heal`);
  assert.equal(
    phases.map((c) => `${c.from}->${c.to}`),
    ["online->removed", "removed->uninitialized"],
  );
  assert.is(m3.status(), "uninitialized");
  assert.is(await statuses(m1), "m1:ONLINE,m2:ONLINE");
});

test.run();
