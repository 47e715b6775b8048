/**
 * `/core/1.0`: the public API, served on the unix socket and over HTTPS.
 *
 * @module
 */
import type { RouterType } from "itty-router";
import { UnavailableError } from "../lib/errors.ts";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { requireOnline, requireTrusted, STATUS_MESSAGES } from "./access.ts";
import { flag, param } from "./body.ts";
import { sync, syncUtf8 } from "./envelope.ts";

/** Allows a member that serves its cluster view (online or waiting for an upgrade). */
function requireInitialized(service: MemberService): void {
  const status = service.status();
  if (status !== "online" && status !== "waiting") {
    throw new UnavailableError(STATUS_MESSAGES[status]);
  }
}

/** Registers the public endpoints on `router`. */
export function publicRoutes(router: RouterType, service: MemberService): void {
  // MicroCluster's API listing, for anyone and before init too: `/1.0`, as MicroCluster writes
  // it (not `/core/1.0`), for a client that reads it.
  router.get("/", () => sync(["/1.0"]));

  // Server info is readable by anyone (MicroCluster: AllowUntrusted): a joiner and a probe need it.
  router.get("/core/1.0", () => sync(service.info()));

  // MicroCluster's readiness: the daemon has started, initialised or not (its test scripts run
  // `waitready` before `init`); an initialised member once it has rejoined and is not waiting
  // for an upgrade. `GET /core/1.0`'s `ready` says whether the member serves the cluster API.
  router.get("/core/1.0/ready", (_request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    const status = service.status();
    if (status === "stopping") throw new UnavailableError("Daemon is shutting down");
    if (!service.started()) throw new UnavailableError("Daemon is not ready yet");
    if (status === "waiting") {
      const names = service.waitingFor().map((n) => `"${n}"`).join(", ");
      throw new UnavailableError(`Daemon is not ready yet: waiting for ${names} to upgrade`);
    }
    return sync(null);
  });

  router.delete("/core/1.0/cluster/:name", async (request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    requireOnline(service);
    await service.removeMember(param(request, "name"), flag(request, "force"));
    return sync(null);
  });

  router.delete("/core/1.0/tokens/:name", async (request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    requireOnline(service);
    await service.revokeToken(param(request, "name"));
    return sync(null);
  });

  router.get("/core/1.0/extensions", (_request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    requireInitialized(service);
    return sync(service.extensions());
  });

  router.get("/core/1.0/upgrade", (_request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    requireInitialized(service);
    return sync(service.upgradeStatus());
  });

  router.get("/core/1.0/cluster", async (_request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    const status = service.status();
    if (status === "uninitialized" || status === "starting" || status === "stopping") {
      throw new UnavailableError(STATUS_MESSAGES[status]);
    }
    if (service.clusterMembersUtf8) return syncUtf8(await service.clusterMembersUtf8());
    return sync(await service.clusterMembers());
  });
}
