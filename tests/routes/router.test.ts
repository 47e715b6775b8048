// deno-lint-ignore-file no-explicit-any
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createRouter } from "../../routes/router.ts";
import { ConflictError } from "../../lib/errors.ts";
import { createLogger } from "../../lib/log.ts";
import { ANONYMOUS, FakeService, STRANGER, TRUSTED, UNIX } from "./fake_service.ts";
import type { Caller } from "../../lib/daemon/service.ts";

interface Ctx {
  service: FakeService;
  logs: string[];
  call(method: string, path: string, caller: Caller, body?: unknown): Promise<[number, any]>;
}

const test = suite<Ctx>("routes");

test.before.each((ctx) => {
  ctx.service = new FakeService();
  ctx.logs = [];
  const handler = createRouter(ctx.service, {
    logger: createLogger({ level: "debug", write: (l) => ctx.logs.push(l) }),
  });
  ctx.call = async (method, path, caller, body) => {
    const init: RequestInit = { method };
    if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
    const res = await handler(new Request(`http://cohort${path}`, init), caller);
    return [res.status, await res.json()];
  };
});

const bootstrap = { bootstrap: true, name: "c1", address: "127.0.0.1:9001" };

test("GET /core/1.0 answers server info in a sync envelope to anyone", async ({ call }) => {
  const [status, body] = await call("GET", "/core/1.0", ANONYMOUS);
  assert.is(status, 200);
  assert.equal(body, {
    type: "sync",
    status: "Success",
    status_code: 200,
    operation: "",
    error_code: 0,
    error: "",
    metadata: {
      name: "host1",
      address: "",
      version: "1.2.3",
      ready: false,
      extensions: ["internal:runtime_extension_v1", "a"],
    },
  });
});

test('GET / lists ["/1.0"] to anyone, before init and after, as MicroCluster; other methods are 405', async ({ call, service }) => {
  for (const state of ["uninitialized", "online"] as const) {
    service.state = state;
    for (const caller of [ANONYMOUS, STRANGER, UNIX]) {
      const [status, body] = await call("GET", "/", caller);
      assert.is(status, 200, state);
      assert.is(body.type, "sync");
      assert.equal(body.metadata, ["/1.0"]);
    }
  }
  const [status, body] = await call("POST", "/", UNIX);
  assert.is(status, 405);
  assert.match(body.error, 'Method POST is not allowed on "/"');
});

test("POST /core/control bootstraps over the socket", async ({ call, service }) => {
  const [status, body] = await call("POST", "/core/control", UNIX, bootstrap);
  assert.is(status, 200);
  assert.is(body.metadata.name, "c1");
  assert.is(body.metadata.ready, true);
  assert.equal(service.initialized, [{ ...bootstrap }]);
});

test("POST /core/control takes MicroCluster's Go encoding: zero values are fields not given", async (ctx) => {
  // types.Control as json.Marshal writes it: every field, "" and null for the unset ones.
  const go = (fields: Record<string, unknown>) => ({
    bootstrap: false,
    config: null,
    join_token: "",
    address: "127.0.0.1:9001",
    name: "c1",
    ...fields,
  });
  for (const config of [{}, null]) {
    const service = new FakeService();
    const handler = createRouter(service);
    const body = JSON.stringify(go({ bootstrap: true, config }));
    const res = await handler(
      new Request("http://cohort/core/control", { method: "POST", body }),
      UNIX,
    );
    assert.is(res.status, 200, JSON.stringify(config));
    assert.equal(service.initialized, [{
      bootstrap: true,
      name: "c1",
      address: "127.0.0.1:9001",
      ...(config ? { config } : {}),
    }]);
  }
  const [joined] = await ctx.call("POST", "/core/control", UNIX, go({ join_token: "tok" }));
  assert.is(joined, 200);
  assert.equal(ctx.service.initialized.at(-1), {
    bootstrap: false,
    name: "c1",
    address: "127.0.0.1:9001",
    join_token: "tok",
  });
});

test("POST /core/control still needs exactly one of bootstrap and a non-empty join_token", async (ctx) => {
  const none = {
    bootstrap: false,
    config: null,
    join_token: "",
    address: "127.0.0.1:9001",
    name: "c1",
  };
  const [status, body] = await ctx.call("POST", "/core/control", UNIX, none);
  assert.is(status, 400);
  assert.match(body.error, "either bootstrap must be true or a join_token must be given");
  const both = { ...none, bootstrap: true, join_token: "tok" };
  const [status2, body2] = await ctx.call("POST", "/core/control", UNIX, both);
  assert.is(status2, 400);
  assert.match(body2.error, "bootstrap and join_token cannot be used together");
  assert.equal(ctx.service.initialized, []);
});

test("POST /core/control over HTTPS is forbidden even for a trusted peer", async (ctx) => {
  const [status, body] = await ctx.call("POST", "/core/control", TRUSTED, bootstrap);
  assert.is(status, 403);
  assert.is(body.type, "error");
  assert.is(body.error_code, 403);
  assert.match(body.error, /only served on the local control socket/);
  assert.is(ctx.service.initialized.length, 0);
});

test("POST /core/control with a bad name is a 400 naming the field and rule", async ({ call }) => {
  const [status, body] = await call("POST", "/core/control", UNIX, { ...bootstrap, name: "-x" });
  assert.is(status, 400);
  assert.match(body.error, /^Invalid request body: name: must be a DNS name/);
});

test("POST /core/control with a bad port is a 400 naming address", async ({ call }) => {
  const [status, body] = await call("POST", "/core/control", UNIX, {
    ...bootstrap,
    address: "127.0.0.1:70000",
  });
  assert.is(status, 400);
  assert.match(body.error, /address: port must be a whole number from 1 to 65535/);
});

test("a wrong type never echoes the value (it may be a secret)", async ({ call }) => {
  const [status, body] = await call("POST", "/core/control", UNIX, {
    name: "c2",
    address: "127.0.0.1:1",
    join_token: 12345678987654321,
  });
  assert.is(status, 400);
  assert.match(body.error, /join_token: Expected a string/);
  assert.not.match(body.error, /12345678987654321/);
});

test("an unknown field is a 400 that names it", async ({ call }) => {
  const [status, body] = await call("POST", "/core/control", UNIX, { ...bootstrap, extra: 1 });
  assert.is(status, 400);
  assert.match(body.error, /extra: unknown field/);
});

test("a body that is not JSON is a 400", async ({ call }) => {
  const [status, body] = await call("POST", "/core/control", UNIX, "{nope");
  assert.is(status, 400);
  assert.is(body.error, "Invalid request body: it is not valid JSON");
});

test("bootstrap with a join token is refused", async ({ call }) => {
  const [status, body] = await call("POST", "/core/control", UNIX, {
    ...bootstrap,
    join_token: "abc",
  });
  assert.is(status, 400);
  assert.match(body.error, /bootstrap and join_token cannot be used together/);
});

test("neither bootstrap nor token is refused", async ({ call }) => {
  const [status, body] = await call("POST", "/core/control", UNIX, {
    name: "c1",
    address: "127.0.0.1:1",
  });
  assert.is(status, 400);
  assert.match(body.error, /either bootstrap must be true or a join_token/);
});

test("bootstrapping twice is a 409", async ({ call }) => {
  await call("POST", "/core/control", UNIX, bootstrap);
  const [status, body] = await call("POST", "/core/control", UNIX, bootstrap);
  assert.is(status, 409);
  assert.is(body.error, 'Cannot initialize this member: it is already initialized as "c1"');
});

test("a cohort error from the service keeps its status and message", async (ctx) => {
  ctx.service.fault = new ConflictError("Something specific");
  const [status, body] = await ctx.call("POST", "/core/control", UNIX, bootstrap);
  assert.is(status, 409);
  assert.is(body.error, "Something specific");
});

test("an unexpected fault is a 500 that leaks nothing and is logged", async (ctx) => {
  const secret = "s3cr3t-token-value";
  ctx.service.state = "online";
  ctx.service.fault = new Error(`Failed query: select * from t\nparams: ${secret}`);
  const [status, body] = await ctx.call("GET", "/core/1.0/cluster", UNIX);
  assert.is(status, 500);
  assert.equal(body, {
    type: "error",
    status: "",
    status_code: 0,
    operation: "",
    error_code: 500,
    error: "Internal server error",
    metadata: null,
  });
  assert.is(ctx.logs.length, 1);
  assert.not.match(ctx.logs.join(""), secret);
  assert.match(ctx.logs[0], /"path":"\/core\/1.0\/cluster"/);
});

test("a full disk is a 507 that says so, and a warning naming the code", async (ctx) => {
  ctx.service.state = "online";
  ctx.service.fault = Object.assign(new Error("ENOSPC: no space left on device, write"), {
    code: "ENOSPC",
    syscall: "write",
  });
  const [status, body] = await ctx.call("GET", "/core/1.0/cluster", UNIX);
  assert.is(status, 507);
  assert.is(
    body.error,
    "No space left on the member's disk: free space in the file system of its state directory " +
      "and try again",
  );
  assert.is(ctx.logs.length, 1);
  const line = JSON.parse(ctx.logs[0]);
  assert.equal([line.level, line.error_code, line.syscall], [40, "ENOSPC", "write"]);
});

test("an unknown path is a 404 envelope", async ({ call }) => {
  const [status, body] = await call("GET", "/core/1.0/nope", UNIX);
  assert.is(status, 404);
  assert.is(body.type, "error");
  assert.is(body.error, 'No endpoint at "/core/1.0/nope"');
});

test("a known path with the wrong method is a 405 envelope", async ({ call }) => {
  const [status, body] = await call("DELETE", "/core/1.0", UNIX);
  assert.is(status, 405);
  assert.match(body.error, /Method DELETE is not allowed/);
});

test("GET /core/1.0/ready is 200 once the daemon has started, initialised or not (MicroCluster)", async ({ call, service }) => {
  service.up = false;
  const [starting, body] = await call("GET", "/core/1.0/ready", UNIX);
  assert.is(starting, 503);
  assert.is(body.error, "Daemon is not ready yet");
  service.up = true;
  assert.is((await call("GET", "/core/1.0/ready", UNIX))[0], 200, "uninitialised: ready");
  service.state = "starting"; // an init under way
  assert.is((await call("GET", "/core/1.0/ready", UNIX))[0], 200, "initialising: still ready");
  service.state = "online";
  assert.is((await call("GET", "/core/1.0/ready", UNIX))[0], 200);
  service.state = "stopping";
  const [stopping, stoppingBody] = await call("GET", "/core/1.0/ready", UNIX);
  assert.is(stopping, 503);
  assert.is(stoppingBody.error, "Daemon is shutting down");
});

test("GET /core/1.0/ready needs a trusted certificate over HTTPS", async ({ call, service }) => {
  service.state = "online";
  assert.is((await call("GET", "/core/1.0/ready", TRUSTED))[0], 200);
  const [status, body] = await call("GET", "/core/1.0/ready", STRANGER);
  assert.is(status, 403);
  assert.is(body.error, "Client certificate is not trusted by this cluster");
  const [anon] = await call("GET", "/core/1.0/ready", ANONYMOUS);
  assert.is(anon, 403);
});

test("GET /core/1.0/cluster lists members once online, 503 before", async ({ call, service }) => {
  const [before, err] = await call("GET", "/core/1.0/cluster", UNIX);
  assert.is(before, 503);
  assert.is(err.error, "Database is not yet initialized");
  service.state = "online";
  const [status, body] = await call("GET", "/core/1.0/cluster", TRUSTED);
  assert.is(status, 200);
  assert.is(body.metadata.length, 1);
  assert.is(body.metadata[0].role, "voter");
  assert.is(body.metadata[0].status, "ONLINE");
});

test("GET /core/1.0/cluster from a service that keeps the list encoded: the same bytes", async ({ service }) => {
  service.state = "online";
  const handler = createRouter(service);
  const get = async () =>
    await (await handler(new Request("http://cohort/core/1.0/cluster"), TRUSTED)).text();
  const plain = await get();
  const list = await service.clusterMembers();
  let served = 0;
  // In chunks, as a service keeps them (split anywhere).
  const bytes = new TextEncoder().encode(JSON.stringify(list));
  const chunks = [bytes.subarray(0, 1), bytes.subarray(1, 7), bytes.subarray(7)];
  const keeping = Object.assign(Object.create(service), {
    clusterMembersUtf8: () => (served++, Promise.resolve(chunks)),
  });
  const kept = createRouter(keeping);
  const response = await kept(new Request("http://cohort/core/1.0/cluster"), TRUSTED);
  const text = await response.text();
  assert.is(served, 1, "the encoded list was used");
  assert.is(text, plain);
  assert.equal(JSON.parse(text).metadata, list);
  assert.ok(text.startsWith('{"type":"sync","status":"Success"'), text.slice(0, 40));
});

test("POST /core/internal/sql runs the query over the socket only", async ({ call, service }) => {
  service.state = "online";
  const [status, body] = await call("POST", "/core/internal/sql", UNIX, { query: "select 1" });
  assert.is(status, 200);
  assert.equal(body.metadata, { results: [{ type: "exec", rows_affected: 1 }] });
  assert.equal(service.sqlQueries, ["select 1"]);
  const [remote] = await call("POST", "/core/internal/sql", TRUSTED, { query: "select 1" });
  assert.is(remote, 403);
});

test("POST /core/internal/sql with an empty query is a 400", async ({ call, service }) => {
  service.state = "online";
  const [status, body] = await call("POST", "/core/internal/sql", UNIX, { query: "" });
  assert.is(status, 400);
  assert.match(body.error, /query: Expected a string with a length between `1` and `1048576`/);
});

test("the SQL console's timeout (seconds) reaches the service in ms; out of 0.001-60 it is a 400 naming it", async ({ call, service }) => {
  service.state = "online";
  const post = (body: object) => call("POST", "/core/internal/sql", UNIX, body);
  assert.is((await post({ query: "select 1", timeout: 4 }))[0], 200);
  assert.is((await post({ query: "select 1" }))[0], 200);
  assert.is((await call("GET", "/core/internal/sql?schema=1&timeout=2.5", UNIX))[0], 200);
  assert.equal(service.sqlTimeouts, [4000, undefined, 2500]);
  for (const timeout of [0, -1, 61, 1e308, "4"]) {
    const [status, body] = await post({ query: "select 1", timeout });
    assert.is(status, 400, `timeout ${timeout}`);
    assert.match(body.error, /timeout/, `timeout ${timeout}`);
  }
  for (const q of ["0", "61", "x", "", "0x10", "1e1", "Infinity", "%205", "-5"]) {
    const [status, body] = await call("GET", `/core/internal/sql?timeout=${q}`, UNIX);
    assert.is(status, 400, `?timeout=${q}`);
    assert.match(body.error, /query parameter timeout: expected a number of seconds/);
  }
  assert.is(service.sqlTimeouts.length, 3, "nothing run for a bad timeout");
});

test("GET /core/internal/sql?schema=1 returns the schema only", async ({ call, service }) => {
  service.state = "online";
  const [status, body] = await call("GET", "/core/internal/sql?schema=1", UNIX);
  assert.is(status, 200);
  assert.is(body.metadata.text, "CREATE TABLE t (x);");
});

test("GET /core/internal/sql before init is a 503", async ({ call }) => {
  const [status, body] = await call("GET", "/core/internal/sql", UNIX);
  assert.is(status, 503);
  assert.is(body.error, "Database is not yet initialized");
});

test("POST /core/control/shutdown asks the daemon to stop", async ({ call, service }) => {
  const [status] = await call("POST", "/core/control/shutdown", UNIX);
  assert.is(status, 200);
  assert.is(service.shutdowns, 1);
  const [remote] = await call("POST", "/core/control/shutdown", TRUSTED);
  assert.is(remote, 403);
  assert.is(service.shutdowns, 1);
});

test("POST /core/control/shutdown?wait=1 answers how the stop's writes went", async (ctx) => {
  const { call, service } = ctx;
  const [status, body] = await call("POST", "/core/control/shutdown", UNIX);
  assert.is(status, 200);
  assert.is(body.metadata, null, "at once, as before, without it");
  const [stored, storedBody] = await call("POST", "/core/control/shutdown?wait=1", UNIX);
  assert.is(stored, 200);
  assert.equal(storedBody.metadata, { stored: true });
  service.stopOutcome = { stored: false, problem: "no space left on the disk" };
  const [unstored, unstoredBody] = await call("POST", "/core/control/shutdown?wait=1", UNIX);
  assert.is(unstored, 200, "the stop happened");
  assert.equal(unstoredBody.metadata, { stored: false, problem: "no space left on the disk" });
  assert.is(service.shutdowns, 3);
});

test("a waiting member answers 503 naming the members it waits for", async ({ call, service }) => {
  service.state = "waiting";
  service.waiting = ["m2", "m3"];
  const [status, body] = await call("POST", "/core/internal/sql", UNIX, { query: "select 1" });
  assert.is(status, 503);
  assert.is(
    body.error,
    'Database is waiting for an upgrade: 2 members have not upgraded yet: "m2", "m3"',
  );
  const [ready, readyBody] = await call("GET", "/core/1.0/ready", UNIX);
  assert.is(ready, 503);
  assert.match(readyBody.error, /waiting for "m2", "m3" to upgrade/);
  const [list] = await call("GET", "/core/1.0/cluster", TRUSTED);
  assert.is(list, 200, "the cluster view stays readable while waiting");
  const [info, infoBody] = await call("GET", "/core/1.0", ANONYMOUS);
  assert.is(info, 200);
  assert.is(infoBody.metadata.ready, false);
});

test("token claims: trusted callers only, the body checked field by field", async (ctx) => {
  const claim = {
    hash: "a".repeat(64),
    name: "jx",
    address: "10.0.0.9:7443",
    fingerprint: "b".repeat(64),
  };
  assert.is((await ctx.call("POST", "/core/internal/tokens/claim", STRANGER, claim))[0], 403);
  assert.is((await ctx.call("POST", "/core/internal/tokens/claim", ANONYMOUS, claim))[0], 403);
  assert.equal(ctx.service.claims, []);
  const [bad, body] = await ctx.call("POST", "/core/internal/tokens/claim", TRUSTED, {
    ...claim,
    hash: "A".repeat(64),
  });
  assert.is(bad, 400);
  assert.match(body.error, /hash/);
  assert.is((await ctx.call("POST", "/core/internal/tokens/claim", TRUSTED, claim))[0], 200);
  assert.equal(ctx.service.claims, [claim]);
  assert.is((await ctx.call("POST", "/core/internal/tokens/release", STRANGER, claim))[0], 403);
  assert.equal(ctx.service.claims, [claim]);
  assert.is((await ctx.call("POST", "/core/internal/tokens/release", TRUSTED, claim))[0], 200);
  assert.equal(ctx.service.claims, []);
});

test("PATCH /core/internal/database nudges the gate, trusted callers only", async (ctx) => {
  assert.is((await ctx.call("PATCH", "/core/internal/database", TRUSTED))[0], 200);
  assert.is(ctx.service.nudges, 1);
  assert.is((await ctx.call("PATCH", "/core/internal/database", STRANGER))[0], 403);
  assert.is(ctx.service.nudges, 1);
});

test("GET /core/1.0/extensions and /upgrade answer once initialised", async ({ call, service }) => {
  assert.is((await call("GET", "/core/1.0/extensions", UNIX))[0], 503);
  service.state = "online";
  const [status, body] = await call("GET", "/core/1.0/extensions", TRUSTED);
  assert.is(status, 200);
  assert.equal(body.metadata.cluster, ["internal:runtime_extension_v1"]);
  const [up, upBody] = await call("GET", "/core/1.0/upgrade", UNIX);
  assert.is(up, 200);
  assert.is(upBody.metadata.complete, true);
});

test("POST /core/control/tokens issues a token over the socket only", async ({ call, service }) => {
  // Before init the member's state answers, before the body is read (a bad one included).
  const [early, earlyBody] = await call("POST", "/core/control/tokens", UNIX, { name: "c_2" });
  assert.is(early, 503);
  assert.is(earlyBody.error, "Database is not yet initialized");
  service.state = "online";
  const [status, body] = await call("POST", "/core/control/tokens", UNIX, {
    name: "c2",
    expire_after: 3_600_000_000_000,
  });
  assert.is(status, 200);
  assert.is(body.metadata, "token-for-c2");
  assert.equal(service.tokens, [{ name: "c2", expireAfterMs: 3_600_000 }]);
  const [remote] = await call("POST", "/core/control/tokens", TRUSTED, { name: "c3" });
  assert.is(remote, 403);
  const [bad, badBody] = await call("POST", "/core/control/tokens", UNIX, {
    name: "c_2",
    expire_after: -1,
  });
  assert.is(bad, 400);
  assert.match(badBody.error, /name: must be a DNS name/);
  assert.match(badBody.error, /expire_after: Expected a integer between `0` and `\d+`$/);
  const [forever, foreverBody] = await call("POST", "/core/control/tokens", UNIX, {
    name: "c4",
    expire_after: 1e308,
  });
  assert.is(forever, 400, "an expiry beyond 100 years is refused, not passed on");
  assert.match(
    foreverBody.error,
    /^Invalid request body: expire_after: Expected a integer between/,
  );
});

test("DELETE /core/control/tokens/:name revokes", async ({ call, service }) => {
  service.tokens = [{ name: "c2", expireAfterMs: 0 }];
  assert.is((await call("DELETE", "/core/control/tokens/c2", UNIX))[0], 200);
  assert.equal(service.tokens, []);
});

test("POST /core/internal/cluster needs no certificate but a valid body", async (ctx) => {
  ctx.service.state = "online";
  const join = {
    name: "c2",
    address: "127.0.0.1:9002",
    certificate: "PEM",
    schema_internal_version: 2,
    schema_external_version: 0,
    extensions: ["internal:runtime_extension_v1"],
    secret: "s3cr3t",
  };
  const [status, body] = await ctx.call("POST", "/core/internal/cluster", ANONYMOUS, join);
  assert.is(status, 200);
  assert.is(body.metadata.cluster_cert, "CERT");
  assert.is(ctx.service.joins.length, 1);
  const [single] = await ctx.call("POST", "/core/internal/cluster", ANONYMOUS, {
    ...join,
    extensions: "internal:runtime_extension_v1",
  });
  assert.is(single, 200, "a bare string is a one-entry list, as MicroCluster sends it");
  assert.equal(ctx.service.joins[1].extensions, ["internal:runtime_extension_v1"]);
  const [bad, badBody] = await ctx.call("POST", "/core/internal/cluster", ANONYMOUS, {
    ...join,
    schema_internal_version: -1,
  });
  assert.is(bad, 400);
  assert.match(badBody.error, /schema_internal_version/);
  assert.not.match(badBody.error, /s3cr3t/);
  // cohort's joiners add their app version; MicroCluster's do not (see the first request).
  assert.not.ok("app_version" in ctx.service.joins[0]);
  const [withVersion] = await ctx.call("POST", "/core/internal/cluster", ANONYMOUS, {
    ...join,
    name: "c3",
    app_version: "2.0.1",
  });
  assert.is(withVersion, 200);
  assert.is(ctx.service.joins[2].app_version, "2.0.1");
  const [badVersion, badVersionBody] = await ctx.call("POST", "/core/internal/cluster", ANONYMOUS, {
    ...join,
    app_version: "two words",
  });
  assert.is(badVersion, 400);
  assert.match(badVersionBody.error, /app_version/);
  assert.is(ctx.service.joins.length, 3);
});

test("DELETE /core/1.0/cluster/:name removes, with force from the query", async (ctx) => {
  ctx.service.state = "online";
  assert.is((await ctx.call("DELETE", "/core/1.0/cluster/c2?force=1", TRUSTED))[0], 200);
  assert.equal(ctx.service.removals, [{ name: "c2", force: true }]);
  assert.is((await ctx.call("DELETE", "/core/1.0/cluster/c3", STRANGER))[0], 403);
  assert.is(ctx.service.removals.length, 1);
});

test("PUT /core/internal/cluster/:name takes MicroCluster's form: no body, ?force=1", async (ctx) => {
  await ctx.call("POST", "/core/control", UNIX, bootstrap);
  assert.is((await ctx.call("PUT", "/core/internal/cluster/c1", TRUSTED))[0], 200);
  assert.is((await ctx.call("PUT", "/core/internal/cluster/c1?force=1", TRUSTED))[0], 200);
  assert.is((await ctx.call("PUT", "/core/internal/cluster/c1", TRUSTED, { force: true }))[0], 200);
  assert.equal(ctx.service.resetForces, [false, true, true]);
});

test("PUT /core/internal/cluster/:name only for this member's own name", async (ctx) => {
  ctx.service.name = "c1";
  const [wrong, body] = await ctx.call("PUT", "/core/internal/cluster/c9", TRUSTED, {});
  assert.is(wrong, 403);
  assert.match(body.error, /This member is "c1", not "c9"/);
  assert.is((await ctx.call("PUT", "/core/internal/cluster/c1", STRANGER, {}))[0], 403);
  assert.is((await ctx.call("PUT", "/core/internal/cluster/c1", TRUSTED, {}))[0], 200);
});

test("GET /core/internal/cluster/:name tells a removal to any certified caller, membership only to the trusted", async (ctx) => {
  const [anonymous] = await ctx.call("GET", "/core/internal/cluster/gone", ANONYMOUS);
  assert.is(anonymous, 403, "a client certificate is required");
  const [status, body] = await ctx.call("GET", "/core/internal/cluster/gone", STRANGER);
  assert.is(status, 200);
  assert.equal(body.metadata, { removed: true, version: 1 });
  const [stranger, refused] = await ctx.call("GET", "/core/internal/cluster/c2", STRANGER);
  assert.is(stranger, 403);
  assert.match(refused.error, "not trusted");
  const [trusted, member] = await ctx.call("GET", "/core/internal/cluster/c2", TRUSTED);
  assert.is(trusted, 200);
  assert.equal(member.metadata, { removed: false });
});

test("PUT /core/control/app-version sets it and answers the new server info", async (ctx) => {
  ctx.service.state = "online";
  const [status, body] = await ctx.call("PUT", "/core/control/app-version", UNIX, {
    app_version: "2.0.0-rc.1+g1a2b3c",
  });
  assert.is(status, 200);
  assert.is(body.type, "sync");
  assert.is(body.metadata.version, "2.0.0-rc.1+g1a2b3c");
  assert.equal(ctx.service.appVersions, ["2.0.0-rc.1+g1a2b3c"]);
  const [, info] = await ctx.call("GET", "/core/1.0", ANONYMOUS);
  assert.is(info.metadata.version, "2.0.0-rc.1+g1a2b3c");
  const [, list] = await ctx.call("GET", "/core/1.0/cluster", UNIX);
  assert.is(list.metadata[0].app_version, "2.0.0-rc.1+g1a2b3c");
});

test("PUT /core/control/app-version with a bad value is a 400 naming the field and rule", async (ctx) => {
  ctx.service.state = "online";
  const huge = "9".repeat(1000);
  const cases: [unknown, RegExp][] = [
    [{ app_version: "" }, /app_version: must be 1 to 64 printable ASCII .*: it is empty$/],
    [{ app_version: huge }, /app_version: must be 1 to 64 printable .*: it has 1000 characters/],
    [{ app_version: "1.0 beta" }, /app_version: must be .*without spaces: it contains a space/],
    [{ app_version: "1.0\n" }, /app_version: .*a control or a non-ASCII character/],
    [{ app_version: "1.0é" }, /app_version: .*a control or a non-ASCII character/],
    [{ app_version: 2 }, /app_version: Expected a string$/],
    [{}, /app_version: Expected a string$/],
    [{ app_version: "1", extra: 1 }, /extra: unknown field/],
  ];
  for (const [request, message] of cases) {
    const [status, body] = await ctx.call("PUT", "/core/control/app-version", UNIX, request);
    assert.is(status, 400, JSON.stringify(request).slice(0, 40));
    assert.match(body.error, /^Invalid request body: /);
    assert.match(body.error, message);
    assert.not.match(body.error, "99999999", "the value is never echoed");
  }
  const [status, body] = await ctx.call("PUT", "/core/control/app-version", UNIX, {
    app_version: "9".repeat(100_000),
  });
  assert.is(status, 413, "a body larger than the endpoint reads is refused unread");
  assert.is(body.error, "Request body exceeds the 4096 bytes this endpoint accepts");
  assert.equal(ctx.service.appVersions, []);
  assert.is(ctx.service.version, "1.2.3");
});

test("PUT /core/control/app-version on an uninitialised member is a 409", async (ctx) => {
  const [status, body] = await ctx.call("PUT", "/core/control/app-version", UNIX, {
    app_version: "2.0.0",
  });
  assert.is(status, 409);
  assert.is(body.error, "Cannot set the app version: this member is not initialized yet");
  assert.equal(ctx.service.appVersions, []);
});

test("PUT /core/control/app-version is served on the control socket only", async (ctx) => {
  ctx.service.state = "online";
  const [status, body] = await ctx.call("PUT", "/core/control/app-version", TRUSTED, {
    app_version: "2.0.0",
  });
  assert.is(status, 403);
  assert.match(body.error, /^Setting the app version is only served on the local control socket/);
  assert.equal(ctx.service.appVersions, []);
  const [post] = await ctx.call("POST", "/core/control/app-version", UNIX, { app_version: "2" });
  assert.is(post, 405);
});

test.run();
