/**
 * Assembles cohort's REST API into one fetch handler: `(Request, Caller) => Promise<Response>`.
 * It speaks only web-standard `Request`/`Response`; the listener that feeds it lives in `lib/net`.
 *
 * @module
 */
import { Router, type RouterType } from "itty-router";
import type { ServersSource } from "../lib/app/servers.ts";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { type Logger, silentLogger } from "../lib/log.ts";
import type { HttpObserver, MetricsSource } from "../lib/metrics/observers.ts";
import type { StatusSource } from "../lib/status/tracker.ts";
import { appRouter, type AppRoutes } from "./app.ts";
import { certificateRoutes } from "./certificates.ts";
import { controlRoutes } from "./control.ts";
import { failure } from "./envelope.ts";
import { eventRoutes } from "./events.ts";
import { errorResponse } from "./errors.ts";
import { internalRoutes } from "./internal.ts";
import { metricsRoutes } from "./metrics.ts";
import { openApiRoutes } from "./openapi.ts";
import { publicRoutes } from "./public.ts";
import { recordRoutes } from "./records.ts";
import { serversRoutes } from "./servers.ts";

/** A fetch handler as served by `lib/net/serve.ts`. */
export type FetchHandler = (request: Request, caller: Caller) => Promise<Response>;

/** Options for {@link createRouter}. */
export interface RouterOptions {
  /** Where internal faults are logged. @default silentLogger */
  logger?: Logger;
  /**
   * The member's metrics: served at `GET /core/1.0/metrics` (501 without), and told of every
   * request answered (`http`).
   */
  metrics?: MetricsSource & { readonly http?: HttpObserver };
  /** The member's status, streamed at `GET /core/control/events` (501 without). */
  status?: StatusSource;
  /**
   * The app's endpoints, served on every path outside `/core` (not in the OpenAPI document,
   * which is cohort's). @default none (404 outside `/core`)
   */
  app?: AppRoutes;
  /**
   * The app's extension servers (`/core/1.0/daemon/servers`, their key pairs at
   * `/core/1.0/cluster/certificates/{name}`). @default none
   */
  servers?: ServersSource;
}

/**
 * Builds the API for one member. Unknown paths answer a 404 envelope, a known path with another
 * method a 405 envelope with an `Allow` header, and faults a 500 envelope without details. HEAD
 * is answered as GET without the body.
 */
export function createRouter(service: MemberService, options: RouterOptions = {}): FetchHandler {
  const logger = options.logger ?? silentLogger;
  // Our own catch: itty's default turns validation errors into 500s and echoes error fields.
  const router: RouterType = Router({
    catch: (err: unknown, request: Request) => errorResponse(err, logger, request),
  });
  controlRoutes(router, service);
  publicRoutes(router, service);
  internalRoutes(router, service);
  metricsRoutes(router, service, options.metrics);
  recordRoutes(router, service);
  eventRoutes(router, options.status);
  serversRoutes(router, service, options.servers);
  certificateRoutes(router, service, options.servers);
  openApiRoutes(router, service); // last: it documents the routes registered before it

  // The app's own router: paths outside /core are the app's, and only the app's; `/` alone is
  // cohort's (MicroCluster's API listing), which no app path may be (`appPathProblem`).
  const app = appRouter(service, options.app ?? { endpoints: [] }, logger);
  const routerOf = (request: Request): RouterType => {
    const path = pathOf(request.url);
    return path === "/" || path === "/core" || path.startsWith("/core/") ? router : app;
  };

  const observer = options.metrics?.http;
  const dispatch = dispatcher(routerOf);
  if (!observer) return dispatch;
  return async (request: Request, caller: Caller): Promise<Response> => {
    const started = performance.now();
    const response = await dispatch(request, caller);
    // itty names the matched route's pattern on the request: a bounded label, unlike the path.
    const route = (request as { route?: string }).route ?? "unmatched";
    observer.request(request.method, route, response.status, (performance.now() - started) / 1e3);
    return response;
  };
}

/**
 * Serves `routerOf(request)`'s routes: HEAD answered as GET without the body, a known path with
 * another method a 405 envelope with an `Allow` header, anything else a 404 envelope.
 */
function dispatcher(routerOf: (request: Request) => RouterType): FetchHandler {
  return async (request: Request, caller: Caller): Promise<Response> => {
    const chosen = routerOf(request);
    if (request.method === "HEAD") {
      const get = new Request(request.url, { headers: request.headers });
      const answer = await chosen.fetch(get, caller) ?? fallback(chosen, request, "GET");
      // The matched route names the request for the metrics, as itty does for a GET.
      (request as { route?: string }).route = (get as { route?: string }).route;
      // A stream (the event stream) would otherwise keep its source subscribed.
      await answer.body?.cancel().catch(() => {});
      return new Response(null, { status: answer.status, headers: answer.headers });
    }
    return await chosen.fetch(request, caller) ?? fallback(chosen, request, request.method);
  };
}

/**
 * The path of a request's URL, as `new URL(url).pathname` gives it: read from the text of an
 * http(s) URL (a `Request`'s `url` is serialised: its path starts at the first `/` after the
 * host and ends at `?` or `#`), parsed for any other. One URL parse less per request.
 */
export function pathOf(url: string): string {
  const host = url.startsWith("http://") ? 7 : url.startsWith("https://") ? 8 : -1;
  if (host < 0) return new URL(url).pathname;
  const start = url.indexOf("/", host);
  if (start < 0) return "/";
  let end = url.length;
  const query = url.indexOf("?", start);
  if (query >= 0) end = query;
  const hash = url.indexOf("#", start);
  if (hash >= 0 && hash < end) end = hash;
  return url.slice(start, end);
}

/** The 404 or 405 answer for a request no route of `chosen` took. */
function fallback(chosen: RouterType, request: Request, method: string): Response {
  const path = new URL(request.url).pathname;
  const allowed = chosen.routes
    .filter(([verb, pattern]) => verb !== "ALL" && pattern.test(path))
    .map(([verb]) => verb);
  if (allowed.includes("GET")) allowed.push("HEAD");
  if (allowed.length) {
    return failure(405, `Method ${method} is not allowed on "${path}"`, {
      allow: [...new Set(allowed)].join(", "),
    });
  }
  return failure(404, `No endpoint at "${path}"`);
}

/**
 * The handler of an app's extension server: its endpoints alone (no `/core` API), answered as
 * by {@link createRouter}.
 */
export function createAppHandler(
  service: MemberService,
  app: AppRoutes,
  options: { logger?: Logger } = {},
): FetchHandler {
  const router = appRouter(service, app, options.logger ?? silentLogger);
  return dispatcher(() => router);
}
