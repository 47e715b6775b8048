/**
 * A one-way partition on real network paths: member m2 stops hearing m1 (every packet from m1
 * dropped at m2) while m1 still hears m2. Over TCP that also breaks every connection between
 * the two, so they see each other only through the other members: SWIM's indirect probes must
 * keep both alive (no `dead` verdict anywhere), and one view must hold right after the heal.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { formatVerdicts } from "./verdicts.ts";
import { note, oneWayScenario } from "./scenarios.ts";
import { faultTest } from "./suite.ts";

const test = suite("one-way partition: m1 hears m2, m2 does not hear m1");

for (const size of [5, 10]) {
  faultTest(test, `${size} members: nobody declared dead, one view after the heal`, async () => {
    const r = await oneWayScenario({ size, preset: "lan", holdMs: 30_000 });
    note(
      `one-way ${size}: ${
        formatVerdicts(r.during)
      } over ${r.holdMs} ms (${r.dropped} packets dropped); one view ${r.convergeMs} ms` +
        ` after the heal; ${r.load.before} → ${r.load.after}`,
    );
    assert.ok(r.dropped > 0, "the one-way rule dropped nothing");
    assert.is(r.during.deadVerdicts, 0, `false dead verdicts: ${formatVerdicts(r.during)}`);
    assert.ok(r.convergeMs !== undefined, `no one view after the heal: ${r.problem}`);
  });
}

test.run();
