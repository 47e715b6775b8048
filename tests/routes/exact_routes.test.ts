// deno-lint-ignore-file no-explicit-any
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Router, type RouterType } from "itty-router";
import { controlRoutes } from "../../routes/control.ts";
import { eventRoutes } from "../../routes/events.ts";
import { exactFetch, exactTable } from "../../routes/exact_routes.ts";
import { internalRoutes } from "../../routes/internal.ts";
import { metricsRoutes } from "../../routes/metrics.ts";
import { openApiRoutes } from "../../routes/openapi.ts";
import { publicRoutes } from "../../routes/public.ts";
import { recordRoutes } from "../../routes/records.ts";
import { pathOf } from "../../routes/router.ts";
import { serversRoutes } from "../../routes/servers.ts";
import { ANONYMOUS, FakeService, TRUSTED, UNIX } from "./fake_service.ts";

const test = suite("exact_routes");

const ok = (what: string) => () => Response.json({ what });
const onError = (err: unknown) => Response.json({ error: String(err) }, { status: 500 });

/** `router.fetch` counted: how often itty itself answered. */
function counted(router: RouterType): { itty: () => number } {
  let calls = 0;
  const fetch = router.fetch;
  router.fetch = (...args: any[]) => {
    calls++;
    return (fetch as any)(...args);
  };
  return { itty: () => calls };
}

test("the table holds the routes without parameters or wildcards that no other route matches", () => {
  const router = Router();
  router.get("/a", ok("a"));
  router.get("/b/:name", ok("b"));
  router.get("/c/*", ok("c"));
  router.all("/d", ok("d"));
  router.get("/e", ok("e early"));
  router.get("/e", ok("e late")); // itty answers with the first; not looked up
  router.get("/f/:x", ok("f param"));
  router.get("/f/g", ok("f/g")); // shadowed by an earlier parameter route
  router.get("/h", ok("h"));
  router.all("/h", ok("h all")); // a later ALL matches too
  router.post("/a", ok("post a"));
  const table = exactTable(router.routes);
  const keys = [...table].flatMap(([method, paths]) =>
    [...paths.keys()].map((p) => `${method} ${p}`)
  );
  assert.equal(keys.sort(), ["GET /a", "POST /a"]);
});

test("an exact path is answered without itty's scan, named as itty names it", async () => {
  const router = Router();
  router.get("/core/x/:id", (r: any) => Response.json({ params: r.params, route: r.route }));
  router.get("/core/x", (r: any) => Response.json({ params: r.params, route: r.route }));
  const { itty } = counted(router);
  const fetch = exactFetch(router, pathOf, onError);
  const exact = new Request("http://m/core/x?q=1");
  assert.equal(await (await fetch(exact))!.json(), { params: {}, route: "/core/x" });
  assert.is(itty(), 0);
  // A path itty matches otherwise is itty's: a trailing slash, a parameter.
  assert.equal(await (await fetch(new Request("http://m/core/x/")))!.json(), {
    params: {},
    route: "/core/x",
  });
  assert.equal(await (await fetch(new Request("http://m/core/x/7")))!.json(), {
    params: { id: "7" },
    route: "/core/x/:id",
  });
  assert.is(itty(), 2);
});

test("handlers run in order until one answers; a throw goes to the router's catch", async () => {
  const seen: string[] = [];
  const router = Router();
  router.get("/two", () => void seen.push("first"), () => Response.json({ second: true }));
  router.get("/none", () => undefined);
  router.get("/throws", () => {
    throw new Error("boom");
  });
  const fetch = exactFetch(router, pathOf, onError);
  assert.equal(await (await fetch(new Request("http://m/two")))!.json(), { second: true });
  assert.equal(seen, ["first"]);
  assert.is(await fetch(new Request("http://m/none")), undefined);
  const thrown = (await fetch(new Request("http://m/throws")))!;
  assert.is(thrown.status, 500);
  assert.equal(await thrown.json(), { error: "Error: boom" });
});

/** cohort's core routes on a plain itty router, as `createRouter` registers them. */
function coreRoutes(service: FakeService): RouterType {
  const router = Router({ catch: (err: unknown) => onError(err) });
  controlRoutes(router, service);
  publicRoutes(router, service);
  internalRoutes(router, service);
  metricsRoutes(router, service, undefined);
  recordRoutes(router, service);
  eventRoutes(router, undefined);
  serversRoutes(router, service, undefined);
  openApiRoutes(router, service);
  return router;
}

test("every exact core route answers as itty answers it, to every kind of caller", async () => {
  const table = exactTable(coreRoutes(new FakeService()).routes);
  const keys = [...table].flatMap(([method, paths]) =>
    [...paths.keys()].map((p) => `${method} ${p}`)
  );
  assert.ok(keys.includes("GET /core/1.0/cluster"), "the list is looked up");
  assert.ok(keys.length >= 15, `${keys.length} exact routes`);
  for (const key of keys) {
    const [method, path] = key.split(" ");
    for (const caller of [UNIX, TRUSTED, ANONYMOUS]) {
      const viaItty = coreRoutes(new FakeService());
      const viaTable = coreRoutes(new FakeService());
      const { itty } = counted(viaTable);
      const request = () =>
        new Request(`http://cohort${path}?x=1`, {
          method,
          ...(method === "GET" || method === "DELETE" ? {} : { body: "{}" }),
        });
      const a = (await viaItty.fetch(request(), caller)) as Response;
      const b = (await exactFetch(viaTable, pathOf, onError)(request(), caller))!;
      assert.is(itty(), 0, key);
      assert.is(b.status, a.status, `${key} ${caller.transport}`);
      assert.is(await b.text(), await a.text(), `${key} ${caller.transport}`);
    }
  }
});

test.run();
