/**
 * End to end, with real member daemons on loopback, as the README's "Rolling upgrades" has an
 * operator meet it: a member restarted ahead of the others waits, and what it still serves and
 * what it refuses with a 503 naming the members not upgraded yet are the lists the README gives.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { api, EXTENSIONS, type Member, stop, stopMembers } from "../helpers/cluster.ts";
import { formWith, isReady, startWith } from "../helpers/upgrade.ts";

interface Ctx {
  r: Member[];
}

const test = suite<Ctx>("README: what a waiting member serves");

test.before(async (ctx) => {
  ctx.r = await formWith(["w1", "w2"]);
  const [w1] = ctx.r;
  await stop(w1);
  await startWith(w1, { extensions: [...EXTENSIONS, "feature_c"] });
});

test.after(async (ctx) => {
  await stopMembers(ctx.r ?? []);
});

const WAITING = 'Database is waiting for an upgrade: 1 member has not upgraded yet: "w2"';

test("it serves status, the upgrade, metrics, records, servers and app-version; joins, tokens, removal and SQL answer 503 naming w2", async ({ r }) => {
  const [w1] = r;
  assert.is(await isReady(w1), false, "GET /core/1.0 says ready: false");
  const served: [string, string, unknown?][] = [
    ["GET", "/core/1.0/cluster"],
    ["GET", "/core/1.0/upgrade"],
    ["GET", "/core/1.0/extensions"],
    ["GET", "/core/1.0/metrics"],
    ["PUT", "/core/1.0/records/svc%2Fweb", { value: 1 }],
    ["GET", "/core/1.0/records"],
    ["GET", "/core/1.0/daemon/servers"],
    ["PUT", "/core/control/app-version", { app_version: "2.0.0" }],
  ];
  for (const [method, path, body] of served) {
    const res = await api(w1, method, path, body);
    assert.is(res.status, 200, `${method} ${path}: ${res.body?.error}`);
  }
  const refused: [string, string, unknown?][] = [
    ["GET", "/core/1.0/ready"],
    ["POST", "/core/control/tokens", { name: "w3" }],
    // The state is checked before the body is read: a mistyped body gets the same 503.
    ["POST", "/core/control/tokens", { name: "w3", expire: 1 }],
    ["GET", "/core/control/tokens"],
    ["DELETE", "/core/1.0/cluster/w2"],
    ["POST", "/core/internal/sql", { query: "SELECT 1" }],
  ];
  for (const [method, path, body] of refused) {
    const res = await api(w1, method, path, body);
    assert.is(res.status, 503, `${method} ${path}`);
    assert.match(res.body.error, method === "GET" && path.endsWith("/ready") ? '"w2"' : WAITING);
  }
});

test.run();
