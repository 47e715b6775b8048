/**
 * The process metrics sample the event loop's lag at most once a second: each sample wakes the
 * process, and at 100 ms the samples alone cost an idle member 0.05 % of a core (issue 15,
 * idle CPU).
 */
import perfHooks from "node:perf_hooks";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const test = suite("process metrics");

test("the event loop lag is sampled at most once a second, and reported", async () => {
  const monitor = perfHooks.monitorEventLoopDelay;
  const resolutions: number[] = [];
  perfHooks.monitorEventLoopDelay = ((options?: { resolution?: number }) => {
    resolutions.push(options?.resolution ?? 10);
    return monitor(options);
  }) as typeof monitor;
  try {
    // Loaded after the spy: the registry starts its sampling on first use.
    const { processRegistry } = await import("../../lib/metrics/process_metrics.ts");
    const text = await processRegistry().metrics();
    assert.match(text, /nodejs_eventloop_lag_p99_seconds/);
  } finally {
    perfHooks.monitorEventLoopDelay = monitor;
  }
  assert.equal(resolutions.length, 1, "one monitor");
  assert.ok(resolutions[0] >= 1000, `sampled every ${resolutions[0]} ms`);
});

test.run();
