/**
 * The process metrics sample the event loop's lag at most once a second: each sample wakes the
 * process, and at 100 ms the samples alone cost an idle member 0.05 % of a core (issue 15,
 * idle CPU). And only once the member's metrics were scraped: a member nobody scrapes has no
 * sampler waking it every second. Each scrape reports the lag it measured: the figures of a
 * scrape with no sample since the previous one (a member's first) are NaN, never an empty
 * histogram's raw figures (min 9223372036.854776 s) that a dashboard or an alert takes for real.
 */
import perfHooks from "node:perf_hooks";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { RECORDS_INTERVALS } from "../../lib/metrics/event_loop_lag.ts";
import { value } from "../helpers/metrics.ts";

const test = suite("process metrics");

/** Resolutions of the samplers created, and figures a test puts in their histograms' place. */
const resolutions: number[] = [];
let replaced: Partial<Record<"count" | "min" | "max" | "mean" | "stddev", number>> & {
  percentile?: (p: number) => number;
} = {};
const monitor = perfHooks.monitorEventLoopDelay;
perfHooks.monitorEventLoopDelay = ((options?: { resolution?: number }) => {
  resolutions.push(options?.resolution ?? 10);
  const real = monitor(options);
  return new Proxy(real, {
    get: (target, key) => {
      if (key in replaced) return replaced[key as keyof typeof replaced];
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}) as typeof monitor;
// Loaded after the spy: the registry starts its sampling on first use.
const { MemberMetrics } = await import("../../lib/metrics/member_metrics.ts");

const FIGURES = ["min", "max", "mean", "stddev", "p50", "p90", "p99"];
const lag = (text: string, figure: string) => value(text, `nodejs_eventloop_lag_${figure}_seconds`);

test("a member's first scrape starts one sampler and reports NaN lag figures, and the lag it measured", async () => {
  const metrics = new MemberMetrics();
  assert.equal(resolutions, [], "no sampler while nobody scraped");
  const first = await metrics.render();
  assert.is(resolutions.length, 1, "the first scrape started one");
  assert.not.match(first, /9223372036/);
  for (const figure of FIGURES) {
    assert.ok(Number.isNaN(lag(first, figure)), `${figure}: ${lag(first, figure)}`);
  }
  // Measured at this scrape (one setImmediate hop), not left at 0 until the next.
  const now = value(first, "nodejs_eventloop_lag_seconds")!;
  assert.ok(now > 0 && Number.isFinite(now), `nodejs_eventloop_lag_seconds ${now}`);
  await metrics.render();
  new MemberMetrics();
  assert.is(resolutions.length, 1, "one sampler per process");
  assert.ok(resolutions[0] >= 1000, `sampled every ${resolutions[0]} ms`);
});

test("the lag figures are the delays beyond the sampling interval, since the previous scrape", async () => {
  const metrics = new MemberMetrics();
  await metrics.render();
  // The histogram as the runtime fills it: Node records the time between its timer's
  // callbacks (1 s apart when idle), Deno the delay alone.
  const at = RECORDS_INTERVALS ? resolutions[0] * 1e6 : 0;
  const delays = [2e6, 4e6, 500e6]; // ns
  replaced = {
    count: delays.length,
    min: at + 2e6,
    max: at + 500e6,
    mean: at + 168.67e6,
    stddev: 234.8e6,
    percentile: (p) => at + (p <= 50 ? 4e6 : 500e6),
  };
  const text = await metrics.render();
  replaced = {};
  assert.is(lag(text, "min"), 0.002);
  assert.is(lag(text, "max"), 0.5);
  assert.is(lag(text, "mean"), 0.16867);
  assert.is(lag(text, "stddev"), 0.2348);
  assert.is(lag(text, "p50"), 0.004);
  assert.is(lag(text, "p99"), 0.5);
  // A scrape right after: no sample since, whatever the histogram's reset left.
  replaced = { count: 0, min: 9223372036854776000, max: 0, mean: NaN, stddev: NaN };
  const again = await metrics.render();
  replaced = {};
  for (const figure of FIGURES) assert.ok(Number.isNaN(lag(again, figure)), figure);
});

test.run();
