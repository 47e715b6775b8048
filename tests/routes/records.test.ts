/**
 * `/core/1.0/records`: the app's replicated records over the API, on a fake member whose records
 * are the real `AppRecords` over a record store in memory. Who may read and write, the envelope of
 * each answer, percent-encoded keys, and every limit as its HTTP status.
 */
// deno-lint-ignore-file no-explicit-any
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Caller } from "../../lib/daemon/service.ts";
import { createRouter } from "../../routes/router.ts";
import { ANONYMOUS, FakeService, STRANGER, TRUSTED, UNIX } from "./fake_service.ts";

interface Ctx {
  service: FakeService;
  call(method: string, path: string, caller: Caller, body?: unknown): Promise<[number, any]>;
}

const test = suite<Ctx>("records routes");

test.before.each((ctx) => {
  ctx.service = new FakeService();
  ctx.service.state = "online";
  const handler = createRouter(ctx.service);
  ctx.call = async (method, path, caller, body) => {
    const init: RequestInit = { method };
    if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
    const res = await handler(new Request(`http://cohort${path}`, init), caller);
    return [res.status, await res.json()];
  };
});

test("put on the socket, then get and list by prefix as a trusted member; keys are percent-encoded", async ({ call }) => {
  const [status, body] = await call("PUT", "/core/1.0/records/svc%2Fweb", UNIX, {
    value: { port: 80 },
  });
  assert.is(status, 200, JSON.stringify(body));
  assert.equal(
    { ...body.metadata, version: 0 },
    { key: "svc/web", value: { port: 80 }, version: 0, writer: "host1" },
  );
  await call("PUT", "/core/1.0/records/svc%2Fdb", UNIX, { value: "pg" });
  await call("PUT", "/core/1.0/records/zz", UNIX, { value: 1 });
  const [, one] = await call("GET", "/core/1.0/records/svc%2Fdb", TRUSTED);
  assert.is(one.metadata.value, "pg");
  const [, listed] = await call("GET", "/core/1.0/records?prefix=svc%2F", TRUSTED);
  assert.equal(listed.metadata.map((e: any) => e.key), ["svc/db", "svc/web"]);
  const [, all] = await call("GET", "/core/1.0/records", UNIX);
  assert.is(all.metadata.length, 3);
  const [missing, err] = await call("GET", "/core/1.0/records/nope", UNIX);
  assert.is(missing, 404);
  assert.is(err.error, 'Record "nope" not found');
  const [, del] = await call("DELETE", "/core/1.0/records/zz", UNIX);
  assert.equal(del.metadata, { deleted: true });
  const [, again] = await call("DELETE", "/core/1.0/records/zz", UNIX);
  assert.equal(again.metadata, { deleted: false });
});

test("only the socket writes; reading needs a member certificate", async ({ call }) => {
  for (const caller of [TRUSTED, STRANGER, ANONYMOUS]) {
    assert.is((await call("PUT", "/core/1.0/records/a", caller, { value: 1 }))[0], 403);
    assert.is((await call("DELETE", "/core/1.0/records/a", caller))[0], 403);
  }
  for (const caller of [STRANGER, ANONYMOUS]) {
    assert.is((await call("GET", "/core/1.0/records", caller))[0], 403);
    assert.is((await call("GET", "/core/1.0/records/a", caller))[0], 403);
  }
});

test("limits and bad input answer 400 and 413 naming the rule; an uninitialised member 503", async ({ call, service }) => {
  const [big, bigBody] = await call("PUT", "/core/1.0/records/a", UNIX, {
    value: "x".repeat(4095),
  });
  assert.is(big, 413);
  assert.match(bigBody.error, /4097 characters of JSON \(at most 4096\)/);
  assert.is(
    (await call("PUT", `/core/1.0/records/${"k".repeat(257)}`, UNIX, { value: 1 }))[0],
    413,
  );
  assert.is((await call("GET", `/core/1.0/records/a%0Ab`, UNIX))[0], 400);
  assert.is((await call("PUT", "/core/1.0/records/a", UNIX, { value: null }))[0], 400);
  assert.is((await call("PUT", "/core/1.0/records/a", UNIX, {}))[0], 400);
  assert.is((await call("PUT", "/core/1.0/records/a", UNIX, { value: 1, x: 2 }))[0], 400);
  assert.is((await call("PUT", "/core/1.0/records/a", UNIX, "[1"))[0], 400);
  service.state = "uninitialized";
  const [status, body] = await call("PUT", "/core/1.0/records/a", UNIX, { value: 1 });
  assert.is(status, 503);
  assert.match(body.error, /not initialized/);
  assert.is((await call("GET", "/core/1.0/records", UNIX))[0], 503);
});

test.run();
