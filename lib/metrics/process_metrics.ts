/**
 * The process's metrics (CPU, memory, file descriptors, heap, event loop lag), prom-client's
 * defaults under their usual names (`process_*`, `nodejs_*`). They describe the process, not a
 * member, so every member in a process shares one registry of them, created on first use.
 *
 * @module
 */
import perfHooks from "node:perf_hooks";
import { collectDefaultMetrics, Registry } from "prom-client";
import { registerEventLoopLag } from "./event_loop_lag.ts";

/** node's event loop delay histogram (Deno's types of node:perf_hooks do not export its name). */
type IntervalHistogram = ReturnType<typeof perfHooks.monitorEventLoopDelay>;

/**
 * How often the event loop lag is sampled, in ms: each sample wakes the process. prom-client's
 * default (10 ms) costs an idle member about 0.7 % of a core, 100 ms 0.05 %, 1000 ms under
 * 0.01 % (scripts/bench: an otherwise idle Node process, load 30); a stall still delays the
 * sample under way by its whole length, so the lag figures see every stall of a second or more
 * and, summed over samples, shorter ones.
 */
export const EVENT_LOOP_SAMPLE_MS = 1000;

/**
 * prom-client's gauges named like counters: `promtool check metrics` refuses them, and
 * `nodejs_active_resources{type}` (and `…_handles`, `…_requests`) carry the same counts.
 */
const MISNAMED = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

let registry: Registry | undefined;

/**
 * The process metrics' registry, started on the first call: a member calls it at its first
 * scrape, so a member nobody scrapes never samples its event loop. The lag and GC figures then
 * cover the time since the previous scrape; the first scrape's lag figures, which have no
 * samples yet, are NaN (see `event_loop_lag.ts`).
 */
export function processRegistry(): Registry {
  if (!registry) {
    const made = new Registry();
    const histogram = keepingHistogram(() =>
      collectDefaultMetrics({ register: made, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
    );
    for (const name of MISNAMED) made.removeSingleMetric(name);
    // prom-client reads its histogram's raw figures (see event_loop_lag.ts): the same histogram,
    // so the process still has one sampler, is read right instead.
    if (histogram) registerEventLoopLag(made, histogram, EVENT_LOOP_SAMPLE_MS);
    registry = made;
  }
  return registry;
}

/**
 * Runs `start` and returns the event loop delay histogram it created, if any: prom-client
 * enables one for its lag figures and keeps it to itself.
 */
function keepingHistogram(start: () => void): IntervalHistogram | undefined {
  const create = perfHooks.monitorEventLoopDelay;
  let made: IntervalHistogram | undefined;
  perfHooks.monitorEventLoopDelay = (options) => (made = create(options));
  try {
    start();
  } finally {
    perfHooks.monitorEventLoopDelay = create;
  }
  return made;
}
