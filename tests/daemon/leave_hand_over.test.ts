/**
 * A member asked to leave hands its state to a few live members before it answers
 * (`flows/leave.ts`): a record written to it a moment before its removal reaches every other
 * member, and it asks {@link HAND_OVER_TO} members, not every member of the cluster (an exchange
 * of its whole state with each cost one full state per member at every removal). Whole members
 * in one process on a simulated network (seeded).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { HAND_OVER_TO } from "../../lib/daemon/flows/leave.ts";
import type { GossipFactory } from "../../lib/daemon/gossip_port.ts";
import { MemoryCluster } from "../helpers/memory_member.ts";

const test = suite<{ sim: MemoryCluster }>("a departing member's hand-over");

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

/** Forms `n` members; what the last one's gossip is asked to exchange with is kept in `asked`. */
async function formWatchingLast(n: number, seed: number) {
  const sim = new MemoryCluster(seed);
  const last = `m${n}`;
  const asked: string[][] = [];
  const gossip = sim.gossip;
  (sim as { gossip: GossipFactory }).gossip = (setup) => {
    const handle = gossip(setup);
    if (setup.name !== last) return handle;
    const join = handle.join.bind(handle);
    handle.join = (addresses) => {
      asked.push([...addresses]);
      return join(addresses);
    };
    return handle;
  };
  const daemons = await sim.form(n);
  await sim.run(5000);
  return { sim, daemons, asked };
}

for (const seed of [1, 2, 3]) {
  test(`a record written just before the removal reaches every other member; ${HAND_OVER_TO} members asked of 9 (seed ${seed})`, async (ctx) => {
    const { sim, daemons, asked } = await formWatchingLast(10, seed);
    ctx.sim = sim;
    const [m1] = daemons;
    const m10 = daemons[9];
    asked.length = 0;
    await sim.drive(m10.records.put("last", seed));
    await sim.drive(m1.removeMember("m10", false));
    const others = daemons.slice(0, 9);
    const reached = await sim.until(
      () => others.every((d) => d.records.get("last")?.value === seed),
      30_000,
    );
    assert.ok(
      reached,
      `the record on ${
        others.filter((d) => d.records.get("last") === undefined).length
      } of 9 missing`,
    );
    assert.is(asked.length, 1, `one hand-over: ${JSON.stringify(asked)}`);
    assert.is(asked[0].length, HAND_OVER_TO);
    assert.is(new Set(asked[0]).size, HAND_OVER_TO, "each asked once");
  });
}

test.run();
