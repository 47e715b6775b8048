/**
 * Writes the OpenAPI document of cohort's API to `dist/openapi.json` (exported as
 * `cohort/openapi.json`), asking a router for it as a client on the control socket would. Run by
 * `npm run build`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { MemberService } from "../lib/daemon/service.ts";
import { createRouter } from "../routes/router.ts";

const root = resolve(import.meta.dirname ?? ".", "..");
// The document's route needs nothing of the member on the control socket.
const handler = createRouter({} as MemberService);
const response = await handler(new Request("http://localhost/core/1.0/openapi.json"), {
  transport: "unix",
});
if (response.status !== 200) throw new Error(`openapi.json: HTTP ${response.status}`);
mkdirSync(resolve(root, "dist"), { recursive: true });
const out = resolve(root, "dist/openapi.json");
writeFileSync(out, JSON.stringify(await response.json(), null, 2) + "\n");
console.log(`wrote ${out}`);
