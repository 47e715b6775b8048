/**
 * HTTP metrics: one latency histogram by method, route pattern and status; its `_count` is the
 * number of requests by route and status.
 *
 * @module
 */
import { Histogram, type Registry } from "prom-client";
import type { HttpObserver } from "./observers.ts";

/** Methods kept as label values; any other becomes `other` (a client picks the method). */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Upper bounds of the latency buckets, in seconds: local calls take around a millisecond. */
export const HTTP_BUCKETS = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** The {@link HttpObserver} of one member's registry. */
export class HttpMetrics implements HttpObserver {
  readonly #duration: Histogram<"method" | "route" | "status">;

  constructor(registry: Registry) {
    this.#duration = new Histogram({
      name: "cohort_http_request_duration_seconds",
      help: "Time to answer an API request (to its headers), by method, route and status; " +
        "_count counts the requests",
      labelNames: ["method", "route", "status"],
      buckets: HTTP_BUCKETS,
      registers: [registry],
    });
  }

  request(method: string, route: string, status: number, seconds: number): void {
    this.#duration.observe(
      { method: METHODS.has(method) ? method : "other", route, status: String(status) },
      seconds,
    );
  }
}
