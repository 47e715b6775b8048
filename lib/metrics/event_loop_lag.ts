/**
 * The event loop lag figures (`nodejs_eventloop_lag_*`, prom-client's names and meaning), read
 * from the runtime's event loop delay histogram so that each scrape reports what it measured:
 *
 * - `nodejs_eventloop_lag_seconds`: the lag measured at this scrape (one `setImmediate` hop,
 *   awaited), where prom-client reports the previous scrape's (0 at the first);
 * - `…_min/max/mean/stddev/p50/p90/p99_seconds`: the delays beyond the sampling interval over
 *   the samples since the previous scrape, and NaN when there were none (a member's first
 *   scrape, which starts the sampler, or two scrapes less than a sampling interval apart).
 *   prom-client reports an empty histogram's raw figures instead (min 9223372036.854776 s, max
 *   and percentiles 0 or 5.11e-7 s, mean NaN), which a dashboard or an alert takes for real:
 *   Prometheus's own clients report an empty summary's quantiles as NaN, a value every
 *   comparison in PromQL finds false and every graph leaves blank.
 *
 * @module
 */
import type { monitorEventLoopDelay } from "node:perf_hooks";
import { Gauge, type Registry } from "prom-client";
import { isDeno } from "../runtime.ts";

/** node's event loop delay histogram (Deno's types of node:perf_hooks do not export its name). */
type IntervalHistogram = ReturnType<typeof monitorEventLoopDelay>;

/**
 * Whether the runtime's histogram records the whole time between its timer's callbacks, the
 * sampling interval included (Node: an idle loop sampled every 1000 ms records 1.0009 s), or
 * only the delay beyond it (Deno: 4–5 µs for the same). Node's figures are corrected by the
 * interval, as OpenTelemetry's and Elastic's Node agents do.
 */
export const RECORDS_INTERVALS: boolean = !isDeno;

/** prom-client's names and help for the lag figures, in the order they are written. */
const FIGURES = {
  min: ["nodejs_eventloop_lag_min_seconds", "The minimum recorded event loop delay."],
  max: ["nodejs_eventloop_lag_max_seconds", "The maximum recorded event loop delay."],
  mean: ["nodejs_eventloop_lag_mean_seconds", "The mean of the recorded event loop delays."],
  stddev: [
    "nodejs_eventloop_lag_stddev_seconds",
    "The standard deviation of the recorded event loop delays.",
  ],
  p50: [
    "nodejs_eventloop_lag_p50_seconds",
    "The 50th percentile of the recorded event loop delays.",
  ],
  p90: [
    "nodejs_eventloop_lag_p90_seconds",
    "The 90th percentile of the recorded event loop delays.",
  ],
  p99: [
    "nodejs_eventloop_lag_p99_seconds",
    "The 99th percentile of the recorded event loop delays.",
  ],
} as const;
const LAG = "nodejs_eventloop_lag_seconds";

/** Every series name this module writes. */
export const EVENT_LOOP_LAG_NAMES: readonly string[] = [
  LAG,
  ...Object.values(FIGURES).map(([name]) => name),
];

/**
 * Registers the lag figures on `registry`, read from `histogram` (enabled, sampling every
 * `resolutionMs`) at each scrape and reset after, replacing any series of the same names
 * there (prom-client's own, when its default metrics are registered there).
 */
export function registerEventLoopLag(
  registry: Registry,
  histogram: IntervalHistogram,
  resolutionMs: number,
): void {
  for (const name of EVENT_LOOP_LAG_NAMES) registry.removeSingleMetric(name);
  const registers = [registry];
  const offset = RECORDS_INTERVALS ? resolutionMs * 1e6 : 0;
  // A delay from a recorded interval, in seconds: a timer can fire a little early (loop time is
  // cached in ms), so an interval slightly under the resolution is no delay, not a negative one.
  const delay = (ns: number) => Math.max(0, ns - offset) / 1e9;
  let figures = {} as Record<keyof typeof FIGURES, Gauge>;
  // Registered first, so that its collect runs before the figures below are read.
  new Gauge({
    name: LAG,
    help: "Lag of event loop in seconds.",
    registers,
    async collect() {
      // Read synchronously, before the first await: the other figures' values are read by the
      // same render right after this collect begins.
      const sampled = histogram.count > 0;
      const values = {
        min: delay(histogram.min),
        max: delay(histogram.max),
        mean: delay(histogram.mean),
        // The spread of the intervals is that of the delays: no offset.
        stddev: histogram.stddev / 1e9,
        p50: delay(histogram.percentile(50)),
        p90: delay(histogram.percentile(90)),
        p99: delay(histogram.percentile(99)),
      };
      histogram.reset();
      for (const [key, v] of Object.entries(values)) {
        figures[key as keyof typeof FIGURES].set(sampled ? v : NaN);
      }
      const start = performance.now();
      await new Promise((resolve) => setImmediate(resolve));
      this.set((performance.now() - start) / 1000);
    },
  });
  figures = Object.fromEntries(
    Object.entries(FIGURES).map((
      [key, [name, help]],
    ) => [key, new Gauge({ name, help, registers })]),
  ) as typeof figures;
}
