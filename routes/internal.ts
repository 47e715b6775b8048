/**
 * `/core/internal`: member-to-member and administrative endpoints: join requests (token-gated,
 * no certificate needed), claims on join tokens, the request to leave, and the SQL console
 * (local socket only).
 *
 * @module
 */
import type { RouterType } from "itty-router";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { requireLocal, requireOnline, requireTrusted } from "./access.ts";
import { BODY_LIMITS, flag, param, readBody } from "./body.ts";
import { sync } from "./envelope.ts";
import { advertisedAddressProblem } from "../lib/cluster/address.ts";
import { ForbiddenError, InvalidInputError } from "../lib/errors.ts";
import { is } from "superstruct";
import { JoinBody, ResetBody, SqlBody, SqlTimeout, TokenClaimBody } from "./structs.ts";

/**
 * The `timeout` query parameter of `GET /core/internal/sql`, in ms (undefined when absent).
 *
 * @throws {InvalidInputError} when it is not a number of seconds from 0.001 to 60
 */
function sqlTimeoutMs(request: Request): number | undefined {
  const value = new URL(request.url).searchParams.get("timeout");
  if (value === null) return undefined;
  // Decimal seconds only: `Number` also reads "0x10", "1e1" and "Infinity".
  const seconds = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!is(seconds, SqlTimeout)) {
    throw new InvalidInputError(
      "Invalid query parameter timeout: expected a number of seconds from 0.001 to 60",
      { field: "timeout" },
    );
  }
  return seconds * 1000;
}

/** Registers the internal endpoints on `router`. */
export function internalRoutes(router: RouterType, service: MemberService): void {
  // A prospective member has no trusted certificate yet: the token's secret is its credential.
  router.post("/core/internal/cluster", async (request: Request) => {
    requireOnline(service);
    const body = await readBody(request, JoinBody, BODY_LIMITS.join);
    const unreachable = advertisedAddressProblem(body.address);
    if (unreachable) {
      throw new InvalidInputError(`Invalid request body: address: ${unreachable}`, {
        field: "address",
      });
    }
    return sync(
      await service.acceptJoin({
        name: body.name,
        address: body.address,
        certificate: body.certificate,
        schema_internal_version: body.schema_internal_version,
        schema_external_version: body.schema_external_version,
        extensions: body.extensions,
        ...(body.app_version !== undefined ? { app_version: body.app_version } : {}),
        secret: body.secret,
      }, request.signal),
    );
  });

  // A join token's single use across members: the admitting member asks every member of its
  // roster to claim the token for its joiner, and to release the claim when it refuses.
  router.post("/core/internal/tokens/claim", async (request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    await service.claimToken(await readBody(request, TokenClaimBody, BODY_LIMITS.small));
    return sync(null);
  });

  router.post("/core/internal/tokens/release", async (request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    await service.releaseToken(await readBody(request, TokenClaimBody, BODY_LIMITS.small));
    return sync(null);
  });

  router.put("/core/internal/cluster/:name", async (request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    const name = param(request, "name");
    if (name !== service.info().name) {
      throw new ForbiddenError(`This member is "${service.info().name}", not "${name}"`);
    }
    // MicroCluster's client sends no body and says `?force=1`; cohort's sends `{"force": …}`.
    const force = flag(request, "force") ||
      (request.body !== null && (await readBody(request, ResetBody, BODY_LIMITS.small)).force);
    // Resolves once preRemove ran (a throw refuses to leave); the reset follows the answer.
    await service.resetSelf(force);
    return sync(null);
  });

  // A restarting member asks whether it was removed while it was down: it is no longer trusted,
  // so only a removal is told to an untrusted caller (cohort only; see MemberService.removalOf).
  router.get("/core/internal/cluster/:name", (request: Request, caller: Caller) => {
    if (caller.transport === "https" && !caller.peerFingerprint) {
      throw new ForbiddenError("A client certificate is required");
    }
    return sync(service.removalOf(param(request, "name"), caller.peerFingerprint));
  });

  // An explicit nudge to re-run upgrade gating. Waiting members re-check on every view change
  // anyway, so a lost or early nudge costs nothing.
  router.patch("/core/internal/database", (_request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    service.nudge();
    return sync(null);
  });

  router.get("/core/internal/sql", async (request: Request, caller: Caller) => {
    requireLocal(caller, "The SQL console");
    requireOnline(service);
    const timeoutMs = sqlTimeoutMs(request);
    return sync({
      text: await service.dumpSql(flag(request, "schema"), request.signal, timeoutMs),
    });
  });

  router.post("/core/internal/sql", async (request: Request, caller: Caller) => {
    requireLocal(caller, "The SQL console");
    requireOnline(service);
    const { query, timeout } = await readBody(request, SqlBody, BODY_LIMITS.sql);
    // The statements run off the event loop; a client that leaves cancels them, and so does
    // the time the caller gave them (the daemon then answers why, before the caller gives up).
    const timeoutMs = timeout === undefined ? undefined : timeout * 1000;
    return sync(await service.executeSql(query, request.signal, timeoutMs));
  });
}
