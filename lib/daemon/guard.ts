/**
 * The gate in front of a member's HTTP handler: what may be served in each phase, whatever the
 * handler (cohort's routes wrapped by the app's) would answer. cohort's own `/core/` endpoints
 * check the member's status themselves; a request outside `/core` reaches the handler while the
 * member is not online only when `serveApp` says so for the request and the member's status (an
 * endpoint served then, or a path no endpoint has, which the app's router answers 404; the
 * router checks the endpoint's rules itself), else it gets the member's 503. A removed member
 * serves nothing but `GET /core/1.0` (its status) and the shutdown request until its reset is
 * done.
 *
 * @module
 */
import { jsonResponse } from "../net/json_response.ts";
import type { Handler } from "./options.ts";
import { type Phase, statusOf } from "./phase.ts";
import type { MemberStatus } from "./service.ts";
import { REMOVED_MESSAGE, unavailableMessage } from "./unavailable.ts";

function failure(status: number, message: string): Response {
  return jsonResponse(
    JSON.stringify({
      type: "error",
      status: "",
      status_code: 0,
      operation: "",
      error_code: status,
      error: message,
      metadata: null,
    }),
    status,
  );
}

/** Wraps `handler`; see the module docs. */
export function guardHandler(
  handler: Handler,
  phase: () => Phase,
  waitingFor: () => string[],
  serveApp?: (request: Request, status: MemberStatus) => boolean,
): Handler {
  return (request, caller) => {
    const p = phase();
    if (p === "online") return handler(request, caller);
    const path = new URL(request.url).pathname;
    if (p === "removed") {
      const status = request.method === "GET" && path === "/core/1.0";
      const shutdown = request.method === "POST" && path === "/core/control/shutdown";
      if (!status && !shutdown) return Promise.resolve(failure(503, REMOVED_MESSAGE));
      return handler(request, caller);
    }
    // `/` is cohort's API listing (MicroCluster's `GET /`), served in every phase as `/core`.
    if (path === "/" || path === "/core" || path.startsWith("/core/")) {
      return handler(request, caller);
    }
    if (serveApp?.(request, statusOf(p))) return handler(request, caller);
    return Promise.resolve(failure(503, unavailableMessage(statusOf(p), waitingFor())));
  };
}
