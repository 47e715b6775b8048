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

test.run();
