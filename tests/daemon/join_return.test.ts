/**
 * A join returns once it is committed: it waits for its catch-up push-pull with the admitting
 * member at most `JOIN_CATCHUP_WAIT_MS`, then lets it go on in the background. The
 * admitting member admits every join while a cluster forms and is its busiest member: at N = 50
 * the command waited seconds for that exchange after the join was accepted and seen everywhere.
 * Whole members on the simulated clock, the admitting member's gossip stalled (its traffic
 * waits, as under `kill -STOP` or a long task) while its HTTPS admission still answers.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { resolveConfig } from "../../gossip/config.ts";
import { JOIN_CATCHUP_WAIT_MS } from "../../lib/daemon/flows/join.ts";
import { MemoryCluster } from "../helpers/memory_member.ts";

interface Ctx {
  sim: MemoryCluster;
}

const test = suite<Ctx>("a join returns once committed");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(5);
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

const address = (i: number) => `10.0.0.${i}:7443`;

async function statuses(d: Daemon): Promise<string> {
  return (await d.clusterMembers()).map((e) => `${e.name}:${e.status}`).join(",");
}

test("init --token returns while the admitting member's gossip is stalled; the view converges once it answers", async ({ sim }) => {
  // The lan preset: an exchange times out after 10 s there.
  const lan = { gossipPreset: "lan" as const };
  const m1 = await sim.start("m1", lan);
  const m2 = await sim.start("m2", lan);
  await sim.drive(m1.initialize({ bootstrap: true, name: "m1", address: address(1) }));
  await sim.drive(
    m2.initialize({
      bootstrap: false,
      name: "m2",
      address: address(2),
      join_token: await m1.createToken("m2", 0),
    }),
  );
  await sim.run(3000);
  const m3 = await sim.start("m3", lan);
  const token = await m1.createToken("m3", 0);
  sim.net.stall(address(1));
  const t0 = sim.clock.now();
  await sim.drive(
    m3.initialize({ bootstrap: false, name: "m3", address: address(3), join_token: token }),
  );
  const took = sim.clock.now() - t0;
  const { requestTimeoutMs } = resolveConfig("lan");
  assert.ok(
    took < JOIN_CATCHUP_WAIT_MS + 2000,
    `the join took ${took} simulated ms (an exchange times out after ${requestTimeoutMs})`,
  );
  assert.is(m3.status(), "online");
  sim.net.resume(address(1));
  const all = "m1:ONLINE,m2:ONLINE,m3:ONLINE";
  let seen = "";
  for (let t = 0; t < 30_000; t += 100) {
    seen = (await Promise.all([m1, m2, m3].map(statuses))).join(" ");
    if (seen === `${all} ${all} ${all}`) break;
    await sim.run(100);
  }
  assert.is(seen, `${all} ${all} ${all}`);
});

test.run();
