/**
 * End to end, playing the app developer: members run `fixtures/embed_app.ts` (cohort's command
 * line with app endpoints of every access rule, `?target=` forwarding, the app's widgets table
 * through `member.sql` and Drizzle, and every member event logged) as real processes, and the
 * test calls them as the app's users would: over the control socket, over HTTPS with a member's
 * certificate, with a stranger's, and with none.
 */
// deno-lint-ignore-file no-explicit-any
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { appCommand } from "../helpers/app.ts";
import { requestJson } from "../../lib/net/client.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { fingerprint, generateCertificate } from "../../lib/net/certificates.ts";
import {
  api,
  APP_MIGRATIONS,
  bootstrap,
  daemonArgs,
  eventually,
  joinVia,
  type Member,
  newMember,
  stopMembers,
} from "../helpers/cluster.ts";
import { startDaemonProcess, waitForSocket } from "../helpers/process.ts";
import { logLines } from "../helpers/upgrade.ts";

const APP = resolve(import.meta.dirname ?? ".", "fixtures/embed_app.ts");

interface Ctx {
  m1: Member;
  m2: Member;
  fresh: Member;
  stranger: { cert: string; key: string };
}

const test = suite<Ctx>("app endpoints end to end");

async function startApp(m: Member): Promise<Member> {
  m.daemon = startDaemonProcess(
    daemonArgs(m, { appMigrations: APP_MIGRATIONS }),
    appCommand(APP),
  );
  await waitForSocket(m.dir, m.daemon);
  return m;
}

/** An HTTPS request to `m`, presenting `identity` (or no certificate). */
async function https(
  m: Member,
  method: string,
  path: string,
  identity?: { cert: string; key: string },
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const clusterCert = readFileSync(join(m.dir, "cluster.crt"), "utf8");
  return await requestJson({
    method,
    url: `https://${m.address}${path}`,
    body,
    tls: pinnedTlsOptions({
      fingerprint: fingerprint(clusterCert),
      peerCert: clusterCert,
      ...(identity ? { cert: identity.cert, key: identity.key } : {}),
    }),
    timeoutMs: 15_000,
  });
}

function identityOf(m: Member): { cert: string; key: string } {
  return {
    cert: readFileSync(join(m.dir, "server.crt"), "utf8"),
    key: readFileSync(join(m.dir, "server.key"), "utf8"),
  };
}

test.before(async (ctx) => {
  const [m1, m2, fresh] = await Promise.all(["m1", "m2", "m3"].map(newMember));
  Object.assign(ctx, { m1: m1!, m2: m2!, fresh: fresh! });
  await Promise.all([startApp(ctx.m1), startApp(ctx.m2), startApp(ctx.fresh)]);
  await bootstrap(ctx.m1);
  await joinVia(ctx.m1, ctx.m2);
  ctx.stranger = await generateCertificate({ name: "intruder" });
});

test.after(async (ctx) => {
  await stopMembers([ctx.m1, ctx.m2, ctx.fresh].filter(Boolean));
});

test("before init, only the endpoint served before init answers; the others get the member's 503", async ({ fresh }) => {
  const hello = await api(fresh, "GET", "/1.0/hello");
  assert.is(hello.status, 200);
  assert.is(hello.body.type, "sync");
  assert.is(hello.body.metadata.status, "uninitialized");
  const early = await api(fresh, "GET", "/1.0/whoami");
  assert.is(early.status, 503);
  assert.equal(
    { type: early.body.type, error_code: early.body.error_code, error: early.body.error },
    { type: "error", error_code: 503, error: "Database is not yet initialized" },
  );
  // The control endpoint too: the rule is the member's status, whoever asks.
  assert.is((await api(fresh, "POST", "/1.0/admin")).status, 503);
});

test("an open endpoint answers over HTTPS without a certificate, in cohort's envelope", async ({ m1 }) => {
  const res = await https(m1, "GET", "/1.0/hello");
  assert.is(res.status, 200);
  assert.equal(res.body.metadata, { member: "m1", status: "online" });
  assert.is(res.body.status_code, 200);
});

test("a trusted-only endpoint answers a member's certificate and refuses a stranger's and none", async (ctx) => {
  const ok = await https(ctx.m1, "GET", "/1.0/whoami", identityOf(ctx.m2));
  assert.is(ok.status, 200);
  assert.equal(ok.body.metadata, { member: "m1", transport: "https", forwarded_by: null });
  const stranger = await https(ctx.m1, "GET", "/1.0/whoami", ctx.stranger);
  assert.is(stranger.status, 403);
  assert.is(stranger.body.error, "Client certificate is not trusted by this cluster");
  const none = await https(ctx.m1, "GET", "/1.0/whoami");
  assert.is(none.status, 403);
  assert.is(none.body.error, "A trusted client certificate is required");
  // Nor can a stranger use a trusted member to reach another one.
  const via = await https(ctx.m1, "GET", "/1.0/whoami?target=m2", ctx.stranger);
  assert.is(via.status, 403);
});

test("a control-only endpoint answers on the control socket only, whatever the certificate", async (ctx) => {
  const local = await api(ctx.m1, "POST", "/1.0/admin");
  assert.is(local.status, 200);
  assert.equal(local.body.metadata, { member: "m1", admin: true });
  const member = await https(ctx.m1, "POST", "/1.0/admin", identityOf(ctx.m2));
  assert.is(member.status, 403);
  assert.match(member.body.error, /only served on the local control socket/);
});

test("?target= forwards to the named member over mTLS, which answers as itself", async (ctx) => {
  const viaSocket = await api(ctx.m1, "GET", "/1.0/whoami?target=m2");
  assert.is(viaSocket.status, 200);
  assert.equal(viaSocket.body.metadata, { member: "m2", transport: "https", forwarded_by: "m1" });
  const viaHttps = await https(ctx.m2, "GET", "/1.0/whoami?target=m1", identityOf(ctx.m2));
  assert.equal(viaHttps.body.metadata, { member: "m1", transport: "https", forwarded_by: "m2" });
  const self = await api(ctx.m1, "GET", "/1.0/whoami?target=m1");
  assert.equal(self.body.metadata, { member: "m1", transport: "unix", forwarded_by: null });
  const unknown = await api(ctx.m1, "GET", "/1.0/whoami?target=nobody");
  assert.is(unknown.status, 404);
  assert.match(unknown.body.error, /No member named "nobody"/);
});

test("the app's store is per member, reached with bound parameters and with Drizzle, also through ?target=", async (ctx) => {
  const name = "O'Brien\"); DROP TABLE widgets; --";
  const path = `/1.0/widgets/${encodeURIComponent(name)}`;
  const put = await api(ctx.m1, "PUT", `${path}?target=m2`, { colour: "it's red" });
  assert.is(
    put.status,
    201,
    `${JSON.stringify(put.body)}\n${
      ctx.m1.daemon?.logs().split("\n").filter((l) => /error/i.test(l)).join("\n")
    }\n${ctx.m2.daemon?.logs().split("\n").filter((l) => /error/i.test(l)).join("\n")}`,
  );
  const onM2 = await api(ctx.m2, "GET", path);
  assert.is(onM2.status, 200);
  assert.equal(onM2.body.metadata, { name, colour: "it's red", member: "m2" });
  // Written on m2 only: the SQL store is per member.
  const onM1 = await api(ctx.m1, "GET", path);
  assert.is(onM1.status, 404);
  assert.is(onM1.body.error, `No widget "${name}"`);
  const listed = await api(ctx.m1, "GET", "/1.0/widgets?target=m2");
  assert.equal(listed.body.metadata, [{ name, colour: "it's red" }]);
  const bad = await api(ctx.m1, "PUT", path, { colour: 7 });
  assert.is(bad.status, 400);
  assert.is(bad.body.error, "colour: must be a string");
});

test("member events reach the app from createMember's return: the join before init, then a departure", async (ctx) => {
  // m1 subscribed while uninitialised; m2 joined after its bootstrap.
  await eventually("m1 saw m2 join", async () => {
    const res = await api(ctx.m1, "GET", "/1.0/events");
    return res.body.metadata.some((e: any) => e.event === "member-join" && e.name === "m2");
  }, 20_000);
  await stopMembers([ctx.m2]);
  await eventually("m1 saw m2 leave", async () => {
    const res = await api(ctx.m1, "GET", "/1.0/events");
    return res.body.metadata.some((e: any) => e.event === "member-left" && e.name === "m2");
  }, 20_000);
  const lines = logLines(ctx.m1).filter((l) => l.msg === "app-event");
  assert.ok(lines.some((l) => l.event === "member-left" && l.previous === "alive"));
});

test.run();
