/**
 * `GET /core/1.0/metrics`: the member's metrics in the Prometheus text format, for a scraper on
 * the control socket or presenting a member certificate. (A scraper without a certificate uses
 * the opt-in plain-HTTP listener, `--metrics-address`.)
 *
 * @module
 */
import type { RouterType } from "itty-router";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { NotSupportedError } from "../lib/errors.ts";
import type { MetricsSource } from "../lib/metrics/observers.ts";
import { requireTrusted } from "./access.ts";

/** Registers the metrics endpoint on `router`; without a `source` it answers 501. */
export function metricsRoutes(
  router: RouterType,
  service: MemberService,
  source: MetricsSource | undefined,
): void {
  router.get("/core/1.0/metrics", async (_request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    if (!source) {
      throw new NotSupportedError("This member does not collect metrics");
    }
    return new Response(await source.render(), {
      headers: { "content-type": source.contentType },
    });
  });
}
