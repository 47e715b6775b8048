/**
 * The phase gate (`lib/daemon/guard.ts`) in front of cohort's router with app endpoints, in
 * every phase: a path outside `/core` that no endpoint has is the router's 404 naming it
 * whatever the phase (it was the member's 503 while not online, e.g. "Database is not yet
 * initialized"); a known one not served in that phase is the member's 503; a removed member
 * serves neither; a handler of the app's own making (no `serveApp`) gets nothing outside `/core`
 * until online. End to end with real daemons: tests/e2e/app_unknown_path.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type AppEndpoint, servesWhile } from "../../lib/app/endpoints.ts";
import { guardHandler } from "../../lib/daemon/guard.ts";
import type { Phase } from "../../lib/daemon/phase.ts";
import { createRouter } from "../../routes/router.ts";
import { syncResponse } from "../../routes/responses.ts";
import { FakeService, UNIX } from "../routes/fake_service.ts";

const test = suite("phase gate");

const ENDPOINTS: AppEndpoint[] = [
  { method: "GET", path: "/1.0/early", access: "open", beforeInit: true, handler: () => ok() },
  { method: "GET", path: "/1.0/late", access: "open", handler: () => ok() },
];
const ok = () => syncResponse({});
const NOT_ONLINE: Phase[] = [
  "uninitialized",
  "joining",
  "starting",
  "waiting",
  "refused",
  "stopping",
];

async function ask(phase: Phase, path: string, method = "GET", serveApp = true) {
  const service = new FakeService();
  const router = createRouter(service, { app: { endpoints: ENDPOINTS } });
  const gate = guardHandler(
    router,
    () => phase,
    () => [],
    serveApp ? servesWhile(ENDPOINTS) : undefined,
  );
  const res = await gate(new Request(`http://cohort${path}`, { method }), UNIX);
  return { status: res.status, error: ((await res.json()) as { error: string }).error };
}

test("a path no endpoint has is 404 naming it in every phase but removed", async () => {
  for (const phase of [...NOT_ONLINE, "online"] as Phase[]) {
    for (const path of ["/1.0/nosuch", "/nosuch", "/1.0/early/x"]) {
      assert.equal(
        await ask(phase, path),
        { status: 404, error: `No endpoint at "${path}"` },
        phase,
      );
    }
  }
  assert.is((await ask("removed", "/1.0/nosuch")).status, 503);
});

test("/ (MicroCluster's API listing) is cohort's, served in every phase but removed", async () => {
  for (const phase of [...NOT_ONLINE, "online"] as Phase[]) {
    for (const serveApp of [true, false]) {
      assert.equal(await ask(phase, "/", "GET", serveApp), { status: 200, error: "" }, phase);
    }
  }
  assert.is((await ask("removed", "/")).status, 503);
});

test("a known endpoint not served in the phase is the member's 503, whatever the method", async () => {
  for (const phase of NOT_ONLINE) {
    const late = await ask(phase, "/1.0/late");
    assert.is(late.status, 503, phase);
    assert.not.match(late.error, /No endpoint/);
    assert.is((await ask(phase, "/1.0/late", "POST")).status, 503, phase);
  }
  assert.is((await ask("uninitialized", "/1.0/early")).status, 200);
  assert.is((await ask("online", "/1.0/late", "POST")).status, 405);
});

test("without serveApp (a handler of the app's own), nothing outside /core passes until online", async () => {
  for (const phase of NOT_ONLINE) {
    assert.is((await ask(phase, "/1.0/nosuch", "GET", false)).status, 503, phase);
  }
  assert.is((await ask("online", "/1.0/nosuch", "GET", false)).status, 404);
});

test.run();
