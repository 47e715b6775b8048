/**
 * One member's metrics: a prom-client registry holding the gossip, HTTP and member metrics and
 * the durations of joins and upgrades, rendered together with the process's metrics in the
 * Prometheus text format. prom-client writes the format; nothing here formats text.
 *
 * @module
 */
import { Histogram, Registry } from "prom-client";
import type { MemberService } from "../daemon/service.ts";
import { GossipMetrics } from "./gossip_metrics.ts";
import { HttpMetrics } from "./http_metrics.ts";
import { MemberGauges } from "./member_gauges.ts";
import type { ServiceHooks } from "./observed_service.ts";
import type { MetricsSource } from "./observers.ts";
import { processRegistry } from "./process_metrics.ts";

/** How a join ended, seen from the joiner or from the member that admitted it. */
export type JoinResult = "accepted" | "refused" | "failed";

/** Options of {@link MemberMetrics}. */
export interface MemberMetricsOptions {
  /**
   * Include the process's metrics (`process_*`, `nodejs_*`), collected from the first scrape
   * on (see `process_metrics.ts`). @default true
   */
  processMetrics?: boolean;
}

/** A member's metrics. Create it before the member starts; {@link bind} it to the member. */
export class MemberMetrics implements MetricsSource {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  /** Reported to by the gossip layer (see `gossip/observed_transport.ts`). */
  readonly gossip = new GossipMetrics(this.registry);
  /** Reported to by the router. */
  readonly http = new HttpMetrics(this.registry);
  readonly #join: Histogram<"side" | "result">;
  readonly #upgradeWait: Histogram;
  readonly #upgrade: Histogram;
  readonly #process: boolean;
  #member?: MemberGauges;

  constructor(options: MemberMetricsOptions = {}) {
    // The process metrics start at the first scrape, not here: their event loop lag sampler
    // wakes the process every second and their GC observer runs after every collection, work
    // that a member nobody scrapes would do for nothing (issue 15, idle CPU).
    this.#process = options.processMetrics ?? true;
    const registers = [this.registry];
    this.#join = new Histogram({
      name: "cohort_join_duration_seconds",
      help: "Time to complete a join: from the joiner's init command to its first view " +
        "(side=joiner), or to admit it (side=admitting), by result",
      labelNames: ["side", "result"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#upgradeWait = new Histogram({
      name: "cohort_upgrade_wait_seconds",
      help: "How long this member, restarted ahead of others, waited for them to upgrade " +
        "before it opened",
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600],
      registers,
    });
    this.#upgrade = new Histogram({
      name: "cohort_upgrade_duration_seconds",
      help: "Rolling upgrades seen complete by this member: from the first sight of the new " +
        "target to every member running it",
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600],
      registers,
    });
  }

  /** Joins, for `observeService` (observed_service.ts). */
  readonly hooks: ServiceHooks = {
    joined: (o) => this.join("joiner", o.result, o.seconds),
    admitted: (o) => this.join("admitting", o.result, o.seconds),
  };

  /** Reads the member's own state (phase, view, extensions, upgrade) at every scrape. */
  bind(service: MemberService): void {
    this.#member = new MemberGauges(this.registry, service);
  }

  /** A join finished after `seconds`. */
  join(side: "joiner" | "admitting", result: JoinResult, seconds: number): void {
    this.#join.observe({ side, result }, seconds);
  }

  /** This member opened after waiting `seconds` for others to upgrade. */
  upgradeWaited(seconds: number): void {
    this.#upgradeWait.observe(seconds);
  }

  /** A rolling upgrade this member watched completed in `seconds`. */
  upgradeCompleted(seconds: number): void {
    this.#upgrade.observe(seconds);
  }

  async render(): Promise<string> {
    await this.#member?.update();
    this.gossip.update();
    const own = await this.registry.metrics();
    return this.#process ? (await processRegistry().metrics()) + own : own;
  }
}
