/**
 * `GET|PUT /core/1.0/daemon/servers`: the addresses of the app's extension servers (its
 * additional listeners, MicroCluster's `daemon/servers`), as `{"NAME":{"address":"host:port"}}`,
 * and in `GET` each server's state beside its address (`status`, and `error` and `attempts` for
 * one that could not listen: `ServerState`), which MicroCluster's clients ignore. `PUT` takes
 * addresses only: a field of the state in its body is a 400, as any unknown field.
 * A member without extension servers lists none and refuses every name.
 *
 * @module
 */
import type { RouterType } from "itty-router";
import type { ServersSource } from "../lib/app/servers.ts";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { InvalidInputError, NotFoundError, UnavailableError } from "../lib/errors.ts";
import { requireTrusted, STATUS_MESSAGES } from "./access.ts";
import { BODY_LIMITS, readBody } from "./body.ts";
import { sync } from "./envelope.ts";
import { ServersBody } from "./structs.ts";

/** No extension servers. */
export const NONE: ServersSource = {
  get: () => ({}),
  set: (config) => {
    const [name] = Object.keys(config);
    if (name === undefined) return Promise.resolve();
    throw new InvalidInputError(`No matching additional listener found for "${name}"`, {
      field: name,
    });
  },
  replacePair: (name) =>
    Promise.reject(new NotFoundError(`No matching additional server found for "${name}"`)),
};

/** Allows a member that serves its cluster view (online or waiting for an upgrade). */
function requireInitialized(service: MemberService): void {
  const status = service.status();
  if (status !== "online" && status !== "waiting") {
    throw new UnavailableError(STATUS_MESSAGES[status]);
  }
}

/** Registers the `daemon/servers` endpoints on `router`. */
export function serversRoutes(
  router: RouterType,
  service: MemberService,
  servers: ServersSource = NONE,
): void {
  router.get("/core/1.0/daemon/servers", (_request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    requireInitialized(service);
    return sync(servers.get());
  });

  router.put("/core/1.0/daemon/servers", async (request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    requireInitialized(service);
    const body = await readBody(request, ServersBody, BODY_LIMITS.small);
    await servers.set(body);
    return sync(null);
  });
}
