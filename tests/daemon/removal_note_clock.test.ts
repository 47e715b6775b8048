/**
 * A record's expiry, where the cluster bounds it by the record's version, is dated on the clock
 * that dates the version. A real member's daemon reads the wall clock (`Date.now()`), its gossip
 * engine dates records on a monotonic clock plus an offset it corrects only when the two part by
 * a second or more (`gossip/io_first_clock.ts`): the two differ by a ms or more, by tens of ms
 * when the process was held between the two reads that set the offset (a loaded machine). The
 * removal note and an app record's deletion were dated on the daemon's clock: whenever it was
 * ahead of the engine's, their `expiresAt` was past `version` + the bound, and every other member
 * refused them. The note refused, a forced removal's `postRemove` was told `force: false` on
 * every member but the remover (e2e/hooks failed so once in a full `npm test`, and 1 run in 20
 * of that test alone beside busy loops); the deletion refused, the key stayed on every other
 * member.
 *
 * Here whole members on the simulated clock, the remover's daemon clock 1 ms ahead of its
 * engine's (`clockSkewMs` moves the daemon's clock only).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { DaemonHooks } from "../../lib/daemon/hooks.ts";
import { MemoryCluster } from "../helpers/memory_member.ts";

interface Ctx {
  sim: MemoryCluster;
}

const test = suite<Ctx>("records dated on the engine's clock");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(17);
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

for (const skewMs of [1, 40, -40]) {
  test(`a forced removal by a member whose daemon clock is ${skewMs} ms off its engine's: every postRemove told force`, async ({ sim }) => {
    const calls: { on: string; name: string; force: boolean }[] = [];
    const hooks = (on: string): DaemonHooks => ({
      postRemove: ({ name, force }) => void calls.push({ on, name, force }),
    });
    const [m1, , m3] = await sim.form(3, (i) => ({
      hooks: hooks(`m${i}`),
      ...(i === 1 ? { clockSkewMs: skewMs } : {}),
    }));
    await sim.run(2000);
    await sim.drive(m3.stop());
    await sim.drive(m1.removeMember("m3", true));
    // Long enough for m2 to give up waiting for the note (NOTE_WAIT_MS, 3 s) and say false.
    await sim.until(() => calls.length >= 2, 10_000);
    await sim.run(1000);
    const seen = calls.filter((c) => c.on !== "m3").sort((x, y) => x.on < y.on ? -1 : 1);
    assert.equal(seen, [
      { on: "m1", name: "m3", force: true },
      { on: "m2", name: "m3", force: true },
    ]);
  });

  test(`an app record deleted by a member whose daemon clock is ${skewMs} ms off its engine's is gone on every member`, async ({ sim }) => {
    const [m1, m2] = await sim.form(2, (i) => (i === 1 ? { clockSkewMs: skewMs } : {}));
    await m1.records.put("app/k", "v");
    assert.ok(await sim.until(() => m2.records.get("app/k") !== undefined, 10_000));
    assert.ok(await m1.records.delete("app/k"));
    await sim.until(() => m2.records.get("app/k") === undefined, 10_000);
    assert.is(m2.records.get("app/k")?.value, undefined, "the key is still on m2");
  });
}

test.run();
