/**
 * `GET /core/1.0/openapi.json`: the OpenAPI 3.1 document of this API, built from the router's
 * own route table the first time it is asked for (see `openapi/document.ts`). Its builder (a
 * schema of every body and answer) is loaded then too: most members are never asked.
 *
 * @module
 */
import type { RouterType } from "itty-router";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { jsonResponse } from "../lib/net/json_response.ts";
import { requireTrusted } from "./access.ts";

/** The API version the document describes (`/core/1.0`). */
export const API_VERSION = "1.0";

/** Registers the document's endpoint on `router`; register it after every other route. */
export function openApiRoutes(router: RouterType, service: MemberService): void {
  let text: string | undefined;
  router.get("/core/1.0/openapi.json", async (_request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    if (text === undefined) {
      const { openApiDocument, routeKeys } = await import("./openapi/document.ts");
      text ??= JSON.stringify(openApiDocument(routeKeys(router.routes), API_VERSION));
    }
    return jsonResponse(text, 200);
  });
}
