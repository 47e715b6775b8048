/**
 * `/core/control`: local administration over the unix socket (bootstrap, join, join tokens, the
 * app version, shutdown).
 *
 * @module
 */
import type { RouterType } from "itty-router";
import { advertisedAddressProblem } from "../lib/cluster/address.ts";
import { ConflictError, InvalidInputError } from "../lib/errors.ts";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { requireLocal, requireOnline } from "./access.ts";
import { BODY_LIMITS, flag, param, readBody } from "./body.ts";
import { sync } from "./envelope.ts";
import { AppVersionBody, ControlBody, TokenBody } from "./structs.ts";

/** Registers the control endpoints on `router`. */
export function controlRoutes(router: RouterType, service: MemberService): void {
  router.post("/core/control", async (request: Request, caller: Caller) => {
    requireLocal(caller, "Initialisation");
    const body = await readBody(request, ControlBody, BODY_LIMITS.control);
    const unreachable = advertisedAddressProblem(body.address);
    if (unreachable) {
      throw new InvalidInputError(`Invalid request body: address: ${unreachable}`, {
        field: "address",
      });
    }
    // Go's zero values ("" and null) are fields not given.
    const joinToken = body.join_token || undefined;
    if (body.bootstrap && joinToken !== undefined) {
      throw new InvalidInputError(
        "Invalid request body: bootstrap and join_token cannot be used together",
        { field: "join_token" },
      );
    }
    if (!body.bootstrap && joinToken === undefined) {
      throw new InvalidInputError(
        "Invalid request body: either bootstrap must be true or a join_token must be given",
        { field: "bootstrap" },
      );
    }
    // Whether it may initialise is the member's to say (its phase's one owner): a member joining
    // has no name yet, and its status alone ("starting") cannot tell that from a restart.
    return sync(
      await service.initialize({
        bootstrap: body.bootstrap,
        name: body.name,
        address: body.address,
        ...(joinToken !== undefined ? { join_token: joinToken } : {}),
        ...(body.config ? { config: body.config } : {}),
      }),
    );
  });

  router.post("/core/control/tokens", async (request: Request, caller: Caller) => {
    requireLocal(caller, "Issuing join tokens");
    // The member's state before the body: a member that cannot issue reads nothing.
    requireOnline(service);
    const body = await readBody(request, TokenBody, BODY_LIMITS.small);
    // MicroCluster sends nanoseconds; cohort keeps milliseconds.
    return sync(await service.createToken(body.name, Math.ceil(body.expire_after / 1e6)));
  });

  router.get("/core/control/tokens", async (_request: Request, caller: Caller) => {
    requireLocal(caller, "Listing join tokens");
    return sync(await service.listTokens());
  });

  router.delete("/core/control/tokens/:name", async (request: Request, caller: Caller) => {
    requireLocal(caller, "Revoking join tokens");
    await service.revokeToken(param(request, "name"));
    return sync(null);
  });

  router.put("/core/control/app-version", async (request: Request, caller: Caller) => {
    requireLocal(caller, "Setting the app version");
    const body = await readBody(request, AppVersionBody, BODY_LIMITS.small);
    // Not a 503 as for tokens: an uninitialised member stays so until someone runs init.
    if (service.status() === "uninitialized") {
      throw new ConflictError("Cannot set the app version: this member is not initialized yet");
    }
    await service.setAppVersion(body.app_version);
    return sync(service.info());
  });

  router.post("/core/control/shutdown", async (request: Request, caller: Caller) => {
    requireLocal(caller, "Shutdown");
    const written = service.requestShutdown();
    // `?wait=1` (cohort's CLI): answer once the stop has written what it had to, saying how it
    // went; a stop on a read-only disk was reported as clean. Without it, at once, as before.
    if (!flag(request, "wait")) return sync(null);
    return sync(await written);
  });
}
