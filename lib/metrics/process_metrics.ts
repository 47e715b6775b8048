/**
 * The process's metrics (CPU, memory, file descriptors, heap, event loop lag), prom-client's
 * defaults under their usual names (`process_*`, `nodejs_*`). They describe the process, not a
 * member, so every member in a process shares one registry of them, created on first use.
 *
 * @module
 */
import { collectDefaultMetrics, Registry } from "prom-client";

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
 * cover the time since the previous scrape, and the first scrape's lag figures hold no samples
 * yet (prom-client reports the empty histogram: min 9223372036.854776, mean NaN).
 */
export function processRegistry(): Registry {
  if (!registry) {
    registry = new Registry();
    collectDefaultMetrics({
      register: registry,
      eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
    });
    for (const name of MISNAMED) registry.removeSingleMetric(name);
  }
  return registry;
}
