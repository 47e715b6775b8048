/**
 * Partitions on real network paths: a third of the cluster cut off for 30 s (packets silently
 * dropped both ways, as on a cut link) while a member of the cut-off side is removed with
 * `--force` from the other side; then the heal. With the `lan` preset (memberlist's LAN values:
 * push-pull every 30 s), every remaining member must list exactly the remaining members ONLINE
 * within one push-pull interval of the heal, and the removed member must have reset itself.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { note, partitionScenario } from "./scenarios.ts";
import { faultTest } from "./suite.ts";

const test = suite("partition a third for 30 s, remove a member meanwhile, heal");

for (const size of [5, 10]) {
  faultTest(test, `${size} members: one view within one push-pull interval`, async () => {
    const r = await partitionScenario({ size, preset: "lan", removeDuring: true });
    note(
      `partition ${size}: converged ${r.convergeMs} ms after the heal (push-pull ${r.pushPullMs} ms)` +
        `; ${r.load.before} → ${r.load.after}`,
    );
    assert.is(
      r.removed?.code,
      0,
      `cluster remove --force during the partition: ${r.removed?.stderr}`,
    );
    assert.ok(r.convergeMs !== undefined, `no one view after the heal: ${r.problem}`);
    assert.ok(
      r.convergeMs! <= r.pushPullMs,
      `one view ${r.convergeMs} ms after the heal, more than the push-pull interval (${r.pushPullMs} ms)`,
    );
    assert.ok(r.removedReset, `${r.removed?.name} did not reset itself after the heal`);
  });
}

// Alone on its side, the removed member has nobody who still trusts it to hand it its tombstone,
// and the others stop gossiping to it once it has been dead for `gossipToTheDeadMs` (15 s with
// `local`): it learns its removal from the others' refusals of its certificate after the heal.
faultTest(test, "4 members, the removed member alone on its side: it resets itself", async () => {
  const r = await partitionScenario({
    size: 4,
    preset: "local",
    holdMs: 35_000,
    removeDuring: true,
  });
  note(
    `partition 4: converged ${r.convergeMs} ms after the heal; ${r.load.before} → ${r.load.after}`,
  );
  assert.equal(r.minority, [r.removed?.name]);
  assert.is(r.removed?.code, 0, `cluster remove --force: ${r.removed?.stderr}`);
  assert.ok(r.removedReset, `${r.removed?.name} did not reset itself after the heal`);
});

test.run();
