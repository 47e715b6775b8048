/**
 * Whole members on the simulated clock (`tests/helpers/memory_member.ts`): a cluster restarted
 * whole while its network is split in two (a power cut, and the switches come back split). Each
 * member restarts with the members its store remembers as seeds, and reaches only its own side:
 * its gossip table holds that side alone. When the split heals, the two sides must become one
 * cluster again within a few reconnect ticks, not stay two for good.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveConfig } from "../../gossip/config.ts";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

interface Ctx {
  sim: MemoryCluster;
  dirs: string[];
}

const test = suite<Ctx>("a cluster restarted whole while split");
const local = resolveConfig("local");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(3);
  ctx.dirs = [1, 2, 3, 4].map((i) => mkdtempSync(join(tmpdir(), `cohort-split-${i}-`)));
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
  for (const dir of ctx.dirs) rmSync(dir, { recursive: true, force: true });
});

/** `name:STATUS` of every member each daemon lists, one line per daemon. */
async function views(daemons: Daemon[]): Promise<string[]> {
  return await Promise.all(
    daemons.map(async (d) =>
      (await d.clusterMembers()).map((e) => `${e.name}:${e.status}`).join(" ")
    ),
  );
}

test("becomes one cluster within a few reconnect ticks of the heal", async ({ sim, dirs }) => {
  // A store on disk (not `:memory:`): the restart remembers the members.
  const onDisk = (i: number) => ({ stateDir: dirs[i - 1], databaseUrl: undefined });
  let d = await sim.form(4, onDisk);
  await sim.run(3000);
  await sim.drive(Promise.all(d.map((x) => x.stop())));
  sim.net.partition([memberAddress(1), memberAddress(2)], [memberAddress(3), memberAddress(4)]);
  d = [];
  for (const i of [1, 2, 3, 4]) d.push(await sim.start(`m${i}`, onDisk(i)));
  await sim.run(3 * local.reconnectIntervalMs);
  assert.equal(await views(d), [
    "m1:ONLINE m2:ONLINE m3:UNREACHABLE m4:UNREACHABLE",
    "m1:ONLINE m2:ONLINE m3:UNREACHABLE m4:UNREACHABLE",
    "m1:UNREACHABLE m2:UNREACHABLE m3:ONLINE m4:ONLINE",
    "m1:UNREACHABLE m2:UNREACHABLE m3:ONLINE m4:ONLINE",
  ], "two sides, each ONLINE to itself");
  sim.net.heal();
  const healed = sim.clock.now();
  const one = "m1:ONLINE m2:ONLINE m3:ONLINE m4:ONLINE";
  let last = await views(d);
  for (let t = 0; t < 120_000 && !last.every((v) => v === one); t += 500) {
    await sim.run(500);
    last = await views(d);
  }
  assert.equal(last, [one, one, one, one], "one cluster");
  const took = sim.clock.now() - healed;
  assert.ok(took <= 4 * local.reconnectIntervalMs, `one cluster ${took} ms after the heal`);
});

test.run();
