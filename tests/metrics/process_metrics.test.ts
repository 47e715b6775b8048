/**
 * The process metrics sample the event loop's lag at most once a second: each sample wakes the
 * process, and at 100 ms the samples alone cost an idle member 0.05 % of a core (issue 15,
 * idle CPU). And only once the member's metrics were scraped: a member nobody scrapes has no
 * sampler waking it every second.
 */
import perfHooks from "node:perf_hooks";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const test = suite("process metrics");

test("the event loop lag is sampled from the first scrape on, at most once a second", async () => {
  const monitor = perfHooks.monitorEventLoopDelay;
  const resolutions: number[] = [];
  perfHooks.monitorEventLoopDelay = ((options?: { resolution?: number }) => {
    resolutions.push(options?.resolution ?? 10);
    return monitor(options);
  }) as typeof monitor;
  try {
    // Loaded after the spy: the registry starts its sampling on first use.
    const { MemberMetrics } = await import("../../lib/metrics/member_metrics.ts");
    const metrics = new MemberMetrics();
    assert.equal(resolutions, [], "no sampler while nobody scraped");
    assert.match(await metrics.render(), /nodejs_eventloop_lag_p99_seconds/);
    assert.is(resolutions.length, 1, "the first scrape started one");
    await metrics.render();
    new MemberMetrics();
    assert.is(resolutions.length, 1, "one sampler per process");
  } finally {
    perfHooks.monitorEventLoopDelay = monitor;
  }
  assert.ok(resolutions[0] >= 1000, `sampled every ${resolutions[0]} ms`);
});

test.run();
