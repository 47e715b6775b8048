/**
 * Random loss on real network paths, cohort beside serf: the same namespaces run a cohort member
 * and a serf agent each (both `lan` timing), `numgen random` drops 10 % or 30 % of every packet
 * between nodes, and each system's false accusations are counted from its logs (nobody is down,
 * so every one is false; see `verdicts.ts`). Target: no more false `dead` verdicts than serf, and
 * one view again within a push-pull interval once the loss stops.
 *
 * This is the CI-length variant (60 s per case); `scripts/faults/run.ts loss` gives the full
 * five-minute figures.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { formatVerdicts } from "./verdicts.ts";
import { lossScenario, note } from "./scenarios.ts";
import { faultTest } from "./suite.ts";

const test = suite("random loss: false verdicts against serf");
const DURATION_MS = 60_000;

for (const [size, loss] of [[5, 30], [10, 10], [10, 30]]) {
  faultTest(test, `${size} nodes, ${loss} % loss: no more false dead than serf`, async () => {
    const r = await lossScenario({ size, lossPercent: loss, durationMs: DURATION_MS });
    note(
      `loss ${size}×${loss}%: cohort ${formatVerdicts(r.cohort!)} | serf ${
        formatVerdicts(r.serf!)
      } | dropped ${r.dropped} | ${r.load.before} → ${r.load.after}`,
    );
    assert.ok(r.dropped > 0, "the loss rules dropped nothing");
    assert.ok(
      r.cohort!.deadEpisodes <= r.serf!.deadEpisodes,
      `cohort ${formatVerdicts(r.cohort!)}; serf ${formatVerdicts(r.serf!)}`,
    );
    assert.ok(r.cohortRecoverMs !== undefined, `no one view after the loss: ${r.problem}`);
  });
}

test.run();
