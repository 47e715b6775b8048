/**
 * The opt-in plain-HTTP metrics listener (`cohort daemon --metrics-address`), for a Prometheus
 * server that has no member certificate. It serves the metrics and nothing else: `GET /metrics`
 * and `GET /core/1.0/metrics`.
 *
 * @module
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { addressProblem, splitHostPort } from "../cluster/address.ts";
import { InvalidInputError, UnavailableError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { joinHostPort } from "../net/names.ts";
import type { MetricsSource } from "./observers.ts";

/** The host a bare port binds to: loopback, so that exposing metrics is a choice. */
export const DEFAULT_METRICS_HOST = "127.0.0.1";

/**
 * Parses `--metrics-address`: `host:port`, or a bare `port` (or `:port`) on
 * {@link DEFAULT_METRICS_HOST}. Port 0 picks a free port.
 *
 * @throws {InvalidInputError} naming the rule (field `metrics_address`).
 */
export function parseMetricsAddress(value: string): { host: string; port: number } {
  const bare = /^:?(\d{1,5})$/.exec(value);
  const address = bare ? `${DEFAULT_METRICS_HOST}:${bare[1]}` : value;
  // Port 0 (any free port) is fine here, though not in a member's address.
  const zero = /:0+$/.test(address);
  const problem = addressProblem(zero ? address.replace(/:0+$/, ":1") : address);
  if (problem) {
    throw new InvalidInputError(
      `Invalid metrics address "${value}": ${problem} (or a bare port, on ${DEFAULT_METRICS_HOST})`,
      { field: "metrics_address" },
    );
  }
  const { host, port } = splitHostPort(address)!;
  return { host, port };
}

/** A running metrics listener. */
export interface MetricsListener {
  /** `host:port` it listens on (the real port when 0 was asked for). */
  readonly address: string;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves `source` over plain HTTP on `address` (see {@link parseMetricsAddress}).
 *
 * @throws {InvalidInputError} for a malformed address.
 * @throws {UnavailableError} when it cannot be bound.
 */
export async function serveMetrics(
  address: string,
  source: MetricsSource,
  logger: Logger,
): Promise<MetricsListener> {
  const { host, port } = parseMetricsAddress(address);
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics" && path !== "/core/1.0/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not found: try /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { "content-type": "text/plain", allow: "GET, HEAD" }).end();
      return;
    }
    source.render().then((text) => {
      res.writeHead(200, { "content-type": source.contentType });
      res.end(req.method === "HEAD" ? undefined : text);
    }, (err) => {
      logger.error("Rendering the metrics failed", { err });
      res.writeHead(500, { "content-type": "text/plain" }).end("Internal error\n");
    });
  });
  // A scraper keeps its connection: never let one hold the member's shutdown.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: Error & { code?: string }) =>
      reject(
        new UnavailableError(`Cannot serve metrics on "${address}": ${err.code ?? err.message}`, {
          cause: err,
        }),
      ));
    server.listen({ host, port }, resolve);
  });
  server.on("error", (err) => logger.error("Metrics listener error", { err }));
  const bound = joinHostPort(host, (server.address() as AddressInfo).port);
  logger.info("Serving metrics over plain HTTP", {
    address: bound,
    loopback: /^(localhost|127\.\d+\.\d+\.\d+|::1)$/.test(host),
  });
  let closed: Promise<void> | undefined;
  return {
    address: bound,
    close: () =>
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
