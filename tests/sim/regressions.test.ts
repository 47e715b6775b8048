/**
 * Bugs the whole-member simulation found, each as the scenario that shows it (whole members on
 * the simulated clock, as in the simulation) and as the seed that found it, replayed.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { build } from "./builds.ts";
import { report, runSeed } from "./operator.ts";
import { type SimMember, World } from "./world.ts";

const test = suite("bugs the simulation found");

/** Names in `m`'s roster, and which of them it sees down. */
function seen(m: SimMember): string {
  const view = m.member!.network!.view;
  const names = [...view.roster().keys()].sort();
  return names.map((n) => `${n}${view.liveness(n).up ? "" : "(down)"}`).join(",");
}

test("an admitter killed right after answering a join still knows the joiner when it restarts (seed 17)", async () => {
  const w = new World({ seed: 17, members: 2 });
  try {
    const v0 = build("v0");
    const [m1, m2] = w.members;
    const starts = Promise.all([w.start(m1, v0).started, w.start(m2, v0).started]);
    assert.ok(await w.until(starts, 10_000));
    const [d1, d2] = await starts;
    const boot = d1.initialize({ bootstrap: true, name: "m1", address: m1.address });
    assert.ok(await w.until(boot, 10_000));
    await boot;
    await w.run(3000);
    const token = await d1.createToken("m2", 0);
    const join = d2.initialize({
      bootstrap: false,
      name: "m2",
      address: m2.address,
      join_token: token,
    });
    assert.ok(await w.until(join, 10_000));
    await join;
    // Within the second between two writes of m1's view to its store.
    w.kill(m1);
    await w.run(3000);
    const again = w.start(m1, v0).started;
    assert.ok(await w.until(again, 30_000));
    await again;
    await w.run(10_000);
    assert.is(seen(m1), "m1,m2", "m1 still knows m2 after its restart");
    assert.is(seen(m2), "m1,m2", "m2 sees m1 again");
  } finally {
    await w.close();
  }
});

for (const seed of [17]) {
  test(`seed ${seed} replays without a violation`, async () => {
    const r = await runSeed(seed, { members: 3, steps: 8 });
    assert.equal(r.violations, [], report(r, { members: 3, steps: 8 }));
  });
}

test.run();
