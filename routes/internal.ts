/**
 * `/core/internal`: member-to-member and administrative endpoints. In this version only the SQL
 * console, on the local socket.
 *
 * @module
 */
import type { RouterType } from "itty-router";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { requireLocal, requireOnline } from "./access.ts";
import { readBody } from "./body.ts";
import { sync } from "./envelope.ts";
import { SqlBody } from "./structs.ts";

/** Registers the internal endpoints on `router`. */
export function internalRoutes(router: RouterType, service: MemberService): void {
  router.get("/core/internal/sql", async (request: Request, caller: Caller) => {
    requireLocal(caller, "The SQL console");
    requireOnline(service);
    const schema = new URL(request.url).searchParams.get("schema");
    const schemaOnly = schema === "1" || schema === "true";
    return sync({ text: await service.dumpSql(schemaOnly) });
  });

  router.post("/core/internal/sql", async (request: Request, caller: Caller) => {
    requireLocal(caller, "The SQL console");
    requireOnline(service);
    const { query } = await readBody(request, SqlBody);
    return sync(await service.executeSql(query));
  });
}
