/**
 * App endpoints through cohort's router, as an app declares them: access rules, the member's
 * status (and the flags that serve before initialisation or while waiting), `?target=`
 * forwarding, the envelope helpers and errors, 404/405 outside `/core`, and the checks
 * `createMember` runs on the list.
 */
// deno-lint-ignore-file no-explicit-any
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createAppHandler, createRouter } from "../../routes/router.ts";
import { type AppEndpoint, checkEndpoints, servesWhile } from "../../lib/app/endpoints.ts";
import { checkServers } from "../../lib/app/check_servers.ts";
import { InvalidInputError, NotFoundError } from "../../lib/errors.ts";
import { failureResponse, syncResponse, thrownResponse } from "../../routes/responses.ts";
import { ANONYMOUS, FakeService, STRANGER, TRUSTED, UNIX } from "../routes/fake_service.ts";
import type { Caller } from "../../lib/daemon/service.ts";

const test = suite("app endpoints");

const echo = (tag: string): AppEndpoint["handler"] => (request, ctx) =>
  syncResponse({ tag, method: request.method, params: ctx.params, by: ctx.forwardedBy ?? null });

const ENDPOINTS: AppEndpoint[] = [
  { method: "GET", path: "/1.0/open", access: "open", handler: echo("open") },
  { method: "GET", path: "/1.0/trusted", access: "trusted", handler: echo("trusted") },
  { method: "POST", path: "/1.0/control", access: "control", handler: echo("control") },
  {
    method: "GET",
    path: "/1.0/early",
    access: "open",
    beforeInit: true,
    handler: echo("early"),
  },
  {
    method: "GET",
    path: "/1.0/patient",
    access: "trusted",
    whileWaiting: true,
    handler: echo("patient"),
  },
  {
    method: "GET",
    path: "/1.0/items/:id",
    access: "trusted",
    proxyTarget: true,
    handler: echo("item"),
  },
  {
    method: "PUT",
    path: "/1.0/fails",
    access: "open",
    handler: () => {
      throw new NotFoundError('No item "x"');
    },
  },
  {
    method: "DELETE",
    path: "/1.0/crashes",
    access: "open",
    handler: () => {
      throw new Error("SELECT secret FROM t WHERE token = 'hunter2'");
    },
  },
];

function setup(state: FakeService["state"] = "online") {
  const service = new FakeService();
  service.state = state;
  const forwarded: { target: string; url: string }[] = [];
  const handler = createRouter(service, {
    app: {
      endpoints: ENDPOINTS,
      forward: (target, request) => {
        forwarded.push({ target, url: request.url });
        return Promise.resolve(syncResponse({ from: target }));
      },
    },
  });
  const call = async (method: string, path: string, caller: Caller) => {
    const res = await handler(new Request(`http://cohort${path}`, { method }), caller);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  };
  return { service, call, forwarded };
}

test("each access rule admits exactly its callers, and answers the others 403 in an error envelope", async () => {
  const { call } = setup();
  const cases: [string, string, Caller, number][] = [
    ["GET", "/1.0/open", ANONYMOUS, 200],
    ["GET", "/1.0/open", STRANGER, 200],
    ["GET", "/1.0/trusted", TRUSTED, 200],
    ["GET", "/1.0/trusted", UNIX, 200],
    ["GET", "/1.0/trusted", STRANGER, 403],
    ["GET", "/1.0/trusted", ANONYMOUS, 403],
    ["POST", "/1.0/control", UNIX, 200],
    ["POST", "/1.0/control", TRUSTED, 403],
    ["POST", "/1.0/control", ANONYMOUS, 403],
  ];
  for (const [method, path, caller, status] of cases) {
    const res = await call(method, path, caller);
    assert.is(res.status, status, `${method} ${path} by ${JSON.stringify(caller)}`);
    if (status === 200) {
      assert.is(res.body.type, "sync");
      assert.is(res.body.status_code, 200);
    } else {
      assert.equal(
        { type: res.body.type, error_code: res.body.error_code, metadata: res.body.metadata },
        { type: "error", error_code: 403, metadata: null },
      );
    }
  }
  const stranger = await call("GET", "/1.0/trusted", STRANGER);
  assert.is(stranger.body.error, "Client certificate is not trusted by this cluster");
});

test("an uninitialised member serves only the endpoints served before init; the others get its 503", async () => {
  const { call } = setup("uninitialized");
  assert.is((await call("GET", "/1.0/early", ANONYMOUS)).status, 200);
  const refused = await call("GET", "/1.0/open", ANONYMOUS);
  assert.is(refused.status, 503);
  assert.is(refused.body.error, "Database is not yet initialized");
  assert.is((await call("GET", "/1.0/patient", UNIX)).status, 503);
});

test("a waiting member serves only the endpoints served while waiting; the others' 503 names the members not upgraded", async () => {
  const { call, service } = setup("waiting");
  service.waiting = ["m2", "m3"];
  assert.is((await call("GET", "/1.0/patient", UNIX)).status, 200);
  const refused = await call("GET", "/1.0/open", ANONYMOUS);
  assert.is(refused.status, 503);
  assert.is(
    refused.body.error,
    'Database is waiting for an upgrade: 2 members have not upgraded yet: "m2", "m3"',
  );
  assert.is((await call("GET", "/1.0/early", ANONYMOUS)).status, 503);
});

test("the access rule is checked before the status: a stranger learns nothing of a waiting member", async () => {
  const { call } = setup("waiting");
  assert.is((await call("GET", "/1.0/patient", STRANGER)).status, 403);
});

test("?target= forwards a proxied endpoint to another member, but not to this one and not on other endpoints", async () => {
  const { call, forwarded, service } = setup();
  const away = await call("GET", "/1.0/items/7?target=m2", TRUSTED);
  assert.equal(away.body.metadata, { from: "m2" });
  assert.equal(forwarded, [{ target: "m2", url: "http://cohort/1.0/items/7?target=m2" }]);
  const here = await call("GET", `/1.0/items/a%20b?target=${service.name}`, TRUSTED);
  assert.equal(here.body.metadata, {
    tag: "item",
    method: "GET",
    params: { id: "a b" },
    by: null,
  });
  assert.is((await call("GET", "/1.0/items/%ff", TRUSTED)).status, 400);
  const ignored = await call("GET", "/1.0/open?target=m2", ANONYMOUS);
  assert.is(ignored.body.metadata.tag, "open");
  assert.is(forwarded.length, 1);
  // The access rule is the forwarding member's to check, with the original caller.
  assert.is((await call("GET", "/1.0/items/7?target=m2", STRANGER)).status, 403);
  assert.is(forwarded.length, 1);
});

test("a forwarded request names the member that forwarded it only when that member is trusted", async () => {
  const service = new FakeService();
  service.state = "online";
  const handler = createRouter(service, { app: { endpoints: ENDPOINTS } });
  const request = (caller: Caller) =>
    handler(
      new Request("http://cohort/1.0/items/1", { headers: { "x-cohort-forwarded-by": "m1" } }),
      caller,
    ).then((r) => r.json() as Promise<any>);
  assert.is((await request(TRUSTED)).metadata.by, "m1");
  assert.is((await request(UNIX)).metadata.by, null);
});

test("a handler's cohort error keeps its status and message; any other throw is a 500 that leaks nothing", async () => {
  const { call } = setup();
  const missing = await call("PUT", "/1.0/fails", ANONYMOUS);
  assert.is(missing.status, 404);
  assert.is(missing.body.error, 'No item "x"');
  const crash = await call("DELETE", "/1.0/crashes", ANONYMOUS);
  assert.is(crash.status, 500);
  assert.is(crash.body.error, "Internal server error");
  assert.not.match(JSON.stringify(crash.body), /hunter2|SELECT/);
});

test("outside /core, an unknown path is a 404 envelope, another method a 405 with Allow, HEAD a GET without body", async () => {
  const { call } = setup();
  const nothing = await call("GET", "/1.0/none", ANONYMOUS);
  assert.is(nothing.status, 404);
  assert.is(nothing.body.error, 'No endpoint at "/1.0/none"');
  const wrong = await call("POST", "/1.0/open", ANONYMOUS);
  assert.is(wrong.status, 405);
  assert.is(wrong.headers.get("allow"), "GET, HEAD");
  const head = await call("HEAD", "/1.0/open", ANONYMOUS);
  assert.is(head.status, 200);
  assert.is(head.body, null);
});

test("cohort's own API is untouched by the app's routes", async () => {
  const { call } = setup();
  const info = await call("GET", "/core/1.0", ANONYMOUS);
  assert.is(info.status, 200);
  assert.is(info.body.metadata.name, "host1");
  const doc = await call("GET", "/core/1.0/openapi.json", UNIX);
  assert.not.ok(Object.keys(doc.body.paths).some((p) => p.startsWith("/1.0")));
});

test("an extension server's handler serves its endpoints and nothing of /core", async () => {
  const service = new FakeService();
  service.state = "online";
  const handler = createAppHandler(service, { endpoints: ENDPOINTS });
  const open = await handler(new Request("http://x/1.0/open"), ANONYMOUS);
  assert.is(open.status, 200);
  const core = await handler(new Request("http://x/core/1.0"), ANONYMOUS);
  assert.is(core.status, 404);
});

test("checkEndpoints refuses /core paths, bad methods, access rules, duplicates and forwarded control endpoints, naming the field", () => {
  const ok = ENDPOINTS[0]!;
  const cases: [Partial<AppEndpoint>, string][] = [
    [{ path: "/core/1.0/mine" }, "endpoints.0.path"],
    [{ path: "/core" }, "endpoints.0.path"],
    [{ path: "relative" }, "endpoints.0.path"],
    [{ path: "/" }, "endpoints.0.path"],
    [{ path: "/a b" }, "endpoints.0.path"],
    [{ method: "TRACE" as any }, "endpoints.0.method"],
    [{ access: "anyone" as any }, "endpoints.0.access"],
    [{ handler: "no" as any }, "endpoints.0.handler"],
    [{ beforeInit: 1 as any }, "endpoints.0.beforeInit"],
    [{ access: "control", proxyTarget: true }, "endpoints.0.proxyTarget"],
  ];
  for (const [change, field] of cases) {
    try {
      checkEndpoints([{ ...ok, ...change }]);
      assert.unreachable(`accepted ${JSON.stringify(change)}`);
    } catch (err) {
      assert.instance(err, InvalidInputError);
      assert.is((err as InvalidInputError).field, field, JSON.stringify(change));
    }
  }
  assert.throws(
    () => checkEndpoints([ok, { ...ok, path: "/1.0/open" }]),
    (e: any) => e.field === "endpoints.1.path" && /given twice/.test(e.message),
  );
  assert.throws(
    () =>
      checkEndpoints([
        { ...ok, path: "/1.0/items/:id" },
        { ...ok, path: "/1.0/items/:name" },
      ]),
    (e: any) => e.field === "endpoints.1.path",
  );
  checkEndpoints(ENDPOINTS);
  assert.throws(
    () => checkServers({ core: { endpoints: [] } }),
    (e: any) => e.field === "servers.core",
  );
  assert.throws(
    () => checkServers({ web: { endpoints: [{ ...ok, path: "/core/x" }] } }),
    (e: any) => e.field === "servers.web.endpoints.0.path",
  );
  assert.throws(
    () => checkServers({ web: { endpoints: [], address: "nowhere" } }),
    (e: any) => e.field === "servers.web.address",
  );
});

test("servesWhile lets the phase gate through exactly the flagged endpoints and methods", () => {
  const serves = servesWhile(ENDPOINTS);
  const r = (method: string, path: string) => new Request(`http://x${path}`, { method });
  assert.ok(serves(r("GET", "/1.0/early"), "uninitialized"));
  assert.ok(serves(r("HEAD", "/1.0/early/"), "uninitialized"));
  assert.not.ok(serves(r("POST", "/1.0/early"), "uninitialized"));
  assert.not.ok(serves(r("GET", "/1.0/early"), "waiting"));
  assert.ok(serves(r("GET", "/1.0/patient"), "waiting"));
  assert.not.ok(serves(r("GET", "/1.0/patient"), "uninitialized"));
  assert.not.ok(serves(r("GET", "/1.0/open"), "uninitialized"));
  assert.not.ok(serves(r("GET", "/1.0/items/x"), "starting"));
});

test("servesWhile lets through a path no endpoint has, in every state: the router answers 404", () => {
  const r = (method: string, path: string) => new Request(`http://x${path}`, { method });
  for (const status of ["uninitialized", "starting", "waiting", "stopping"] as const) {
    for (const endpoints of [ENDPOINTS, []]) {
      assert.ok(servesWhile(endpoints)(r("GET", "/1.0/nosuch"), status), status);
      assert.ok(servesWhile(endpoints)(r("POST", "/1.0/items"), status), status);
      assert.ok(servesWhile(endpoints)(r("GET", "/1.0/items/a/b"), status), status);
    }
  }
});

test("the envelope helpers answer exactly cohort's envelopes", async () => {
  assert.equal(await syncResponse({ a: 1 }).json(), {
    type: "sync",
    status: "Success",
    status_code: 200,
    operation: "",
    error_code: 0,
    error: "",
    metadata: { a: 1 },
  });
  const created = syncResponse(null, 201);
  assert.is(created.status, 201);
  const failed = failureResponse(409, "Item exists");
  assert.is(failed.status, 409);
  assert.equal(await failed.json(), {
    type: "error",
    status: "",
    status_code: 0,
    operation: "",
    error_code: 409,
    error: "Item exists",
    metadata: null,
  });
  const thrown = thrownResponse(new InvalidInputError("size: must be positive"));
  assert.is(thrown.status, 400);
  assert.is(((await thrown.json()) as any).error, "size: must be positive");
  const internal = thrownResponse(new Error("secret detail"));
  assert.is(internal.status, 500);
  assert.is(((await internal.json()) as any).error, "Internal server error");
});

test.run();
