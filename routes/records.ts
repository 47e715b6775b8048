/**
 * `/core/1.0/records`: the app's replicated records (`member.records`) over the API. Reading is
 * for trusted callers (the control socket, or a cluster member's certificate); writing for the
 * control socket only, as the app's own code writes through `member.records`.
 *
 * @module
 */
import type { RouterType } from "itty-router";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { NotFoundError } from "../lib/errors.ts";
import { requireLocal, requireTrusted } from "./access.ts";
import { param, readBody } from "./body.ts";
import { sync } from "./envelope.ts";
import { RecordBody } from "./structs.ts";

/**
 * Largest `PUT` body, bytes: a value of 4096 characters of JSON (`RECORDS_LIMITS.valueChars`),
 * each up to 3 bytes of UTF-8, in `{"value":…}`.
 */
export const RECORD_BODY_BYTES = 16 * 1024;

/** Registers the records endpoints on `router`. */
export function recordRoutes(router: RouterType, service: MemberService): void {
  router.get("/core/1.0/records", (request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    const prefix = new URL(request.url).searchParams.get("prefix") ?? "";
    return sync(service.records.list(prefix));
  });

  router.get("/core/1.0/records/:key", (request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    const key = param(request, "key");
    const entry = service.records.get(key);
    if (!entry) throw new NotFoundError(`Record "${key}" not found`);
    return sync(entry);
  });

  router.put("/core/1.0/records/:key", async (request: Request, caller: Caller) => {
    requireLocal(caller, "Writing replicated records");
    const key = param(request, "key");
    // Checked before the body is read: an unavailable member reads nothing.
    service.records.usage();
    const body = await readBody(request, RecordBody, RECORD_BODY_BYTES);
    return sync(await service.records.put(key, body.value as never));
  });

  router.delete("/core/1.0/records/:key", async (request: Request, caller: Caller) => {
    requireLocal(caller, "Deleting replicated records");
    return sync({ deleted: await service.records.delete(param(request, "key")) });
  });
}
