/**
 * Exact-path dispatch in front of itty-router. itty answers a request by parsing its URL again,
 * copying its query into an object and testing the routes one by one, destructuring each: about
 * a tenth of what a small answer allocates (`GET /core/1.0/cluster`: 3.4 KB of 25 KB on a kept
 * connection), and a daemon pinned at small young-generation spaces pays for every allocated
 * byte in scavenges, whose cost grows with the cluster (issue 15, "status at scale"). A route
 * whose pattern has no parameter and no wildcard is looked up once per request by method and
 * path instead; the route table is read once, when the router is built.
 *
 * A route is looked up only when itty would choose it and only it: no other route of its method
 * (or `ALL`) matches its path, before or after it. A path itty matches otherwise (a trailing
 * slash, any parameter) is left to itty, as is everything without an exact entry.
 *
 * @module
 */
import type { RouterType } from "itty-router";

/** A handler as itty calls it: the request, then the router's extra arguments. */
type Handler = (request: Request, ...args: unknown[]) => unknown;

/** One exactly routed endpoint. */
interface ExactRoute {
  /** itty's pattern text, which itty names the request with (`request.route`). */
  readonly route: string;
  readonly handlers: readonly Handler[];
}

/** What itty keeps per route: method, compiled pattern, handlers, pattern text. */
type RouteEntry = RouterType["routes"][number];

/**
 * The routes of `routes` that {@link exactFetch} answers itself, by method, then path: those
 * whose pattern text has no parameter (`:`) and no wildcard (`*`), whose method is not `ALL`, and
 * whose path no other route of that method or `ALL` matches.
 */
export function exactTable(routes: readonly RouteEntry[]): Map<string, Map<string, ExactRoute>> {
  const table = new Map<string, Map<string, ExactRoute>>();
  for (const [i, [method, , handlers, route]] of routes.entries()) {
    if (route === undefined || method === "ALL" || /[:*]/.test(route)) continue;
    const alone = routes.every(([m, pattern], j) =>
      j === i || (m !== method && m !== "ALL") || !pattern.test(route)
    );
    if (!alone) continue;
    let paths = table.get(method);
    if (!paths) table.set(method, paths = new Map());
    paths.set(route, { route, handlers: handlers as Handler[] });
  }
  return table;
}

/**
 * `router.fetch(request, arg)` with the exact routes of `router` (as they are now: register
 * every route before) answered from a table: the request gets `params` (empty) and `route` as
 * itty gives them, its handlers run in order until one returns a value, and a throw goes to
 * `onError` as itty's `catch` would take it. `pathOf` reads a request URL's path as
 * `URL.pathname` does. Anything else is itty's.
 */
export function exactFetch(
  router: RouterType,
  pathOf: (url: string) => string,
  onError: (err: unknown, request: Request) => Response,
): (request: Request, arg?: unknown) => Promise<Response | undefined> {
  const table = exactTable(router.routes);
  return async (request, arg) => {
    const exact = table.get(request.method)?.get(pathOf(request.url));
    if (!exact) return await router.fetch(request, arg);
    const named = request as Request & { params?: object; route?: string };
    named.params = {};
    named.route = exact.route;
    const { handlers } = exact;
    try {
      // Indexed: a for-of allocated an iterator per request.
      for (let i = 0; i < handlers.length; i++) {
        const answer = await handlers[i](request, arg);
        if (answer != null) return answer as Response;
      }
      return undefined;
    } catch (err) {
      return onError(err, request);
    }
  };
}
