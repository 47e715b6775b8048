/**
 * The app's endpoints (see `lib/app/endpoints.ts`) as one itty router of their own, beside
 * cohort's: each request is checked against its endpoint's access rule, then against the
 * member's status (the endpoint's `beforeInit`/`whileWaiting` flags), then forwarded when it
 * names another member with `?target=`, and only then handed to the app's handler. Everything
 * it answers on its own is an LXD envelope, like cohort's routes; what the handler throws goes
 * through the same error mapping. App routes are the app's: they are not in cohort's OpenAPI
 * document.
 *
 * @module
 */
import { Router, type RouterType } from "itty-router";
import type { AppEndpoint } from "../lib/app/endpoints.ts";
import { FORWARDED_BY, type Forwarder } from "../lib/app/forward.ts";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { NotSupportedError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { requireLocal, requireOnline, requireTrusted } from "./access.ts";
import { param } from "./body.ts";
import { errorResponse } from "./errors.ts";

/** The app's part of a member's API. */
export interface AppRoutes {
  /** The app's endpoints, checked (`checkEndpoints`). */
  endpoints: readonly AppEndpoint[];
  /** Sends a request to another member (`?target=`). @default none: 501 for a `target` */
  forward?: Forwarder;
}

/** Builds the app's router (see the module docs). */
export function appRouter(
  service: MemberService,
  app: AppRoutes,
  logger: Logger,
): RouterType {
  const router: RouterType = Router({
    catch: (err: unknown, request: Request) => errorResponse(err, logger, request),
  });
  for (const e of app.endpoints) {
    const route = async (request: Request, caller: Caller): Promise<Response> => {
      if (e.access === "control") requireLocal(caller, `${e.method} ${e.path}`);
      else if (e.access === "trusted") requireTrusted(service, caller);
      const status = service.status();
      const served = status === "online" ||
        (status === "uninitialized" && e.beforeInit === true) ||
        (status === "waiting" && e.whileWaiting === true);
      if (!served) requireOnline(service); // throws the member's 503, naming what it waits for
      const url = new URL(request.url);
      const target = e.proxyTarget ? url.searchParams.get("target") : null;
      if (target && target !== service.info().name) {
        if (!app.forward) throw new NotSupportedError("This member cannot forward requests");
        return await app.forward(target, request);
      }
      const trustedPeer = caller.transport === "https" && caller.peerFingerprint !== undefined &&
        service.isTrusted(caller.peerFingerprint);
      const forwardedBy = trustedPeer ? request.headers.get(FORWARDED_BY) ?? undefined : undefined;
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries((request as { params?: object }).params ?? {})) {
        if (typeof v === "string") params[k] = param(request, k);
      }
      const answer = await e.handler(request, {
        caller,
        member: service,
        params,
        ...(forwardedBy !== undefined ? { forwardedBy } : {}),
      });
      if (!(answer instanceof Response)) {
        throw new TypeError(`The handler of ${e.method} ${e.path} did not return a Response`);
      }
      return answer;
    };
    // itty registers any method by name (its proxy); HEAD is answered as GET by the dispatcher.
    (router as unknown as Record<string, (p: string, h: typeof route) => void>)[
      e.method.toLowerCase()
    ](e.path, route);
  }
  return router;
}
