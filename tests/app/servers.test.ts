/**
 * The app's extension servers, in process with real listeners: a member made by `createMember`
 * with two servers (one on the cluster's certificate, one on its own) serves each group on its
 * own address once initialised, lists them at `GET /core/1.0/daemon/servers`, and moves them at
 * `PUT` (kept in the state directory), refusing unknown names and addresses in use.
 */
// deno-lint-ignore-file no-explicit-any
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { createMember, type Daemon, silentLogger, syncResponse } from "../../mod.ts";
import { inProcessIssuer } from "../../lib/net/cert_issuer.ts";
import { requestJson } from "../../lib/net/client.ts";
import { fingerprint } from "../../lib/net/certificates.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { freePort, removeDir, tempDir } from "../helpers/process.ts";

interface Ctx {
  member: Daemon;
  dir: string;
  address: string;
  web: string;
  admin: string;
}

const test = suite<Ctx>("extension servers");

test.before(async (ctx) => {
  ctx.dir = tempDir("cohort-servers-");
  ctx.address = `127.0.0.1:${await freePort()}`;
  ctx.web = `127.0.0.1:${await freePort()}`;
  ctx.admin = `127.0.0.1:${await freePort()}`;
  ctx.member = await createMember({
    stateDir: ctx.dir,
    gossipPreset: "local",
    metrics: false,
    logger: process.env.DEBUG_E2E ? undefined : silentLogger,
    // Key pairs made here (the dedicated server's pair is made in this process anyway), not in
    // a certificate process: under Node that boots the test's TypeScript loader and the X.509
    // library's sources, 0.7 s of CPU.
    certificateIssuer: inProcessIssuer,
    servers: {
      web: {
        address: ctx.web,
        endpoints: [{
          method: "GET",
          path: "/hello",
          access: "open",
          handler: () => syncResponse("web"),
        }],
      },
      admin: {
        dedicatedCertificate: true,
        endpoints: [{
          method: "GET",
          path: "/status",
          access: "trusted",
          handler: (_r, { member }) => syncResponse(member.status()),
        }],
      },
    },
  });
  await ctx.member.initialize({ bootstrap: true, name: "s1", address: ctx.address });
});

test.after(async (ctx) => {
  await ctx.member?.stop();
  removeDir(ctx.dir);
});

const control = (ctx: Ctx, method: string, body?: unknown) =>
  requestJson({
    method,
    path: "/core/1.0/daemon/servers",
    socketPath: join(ctx.dir, "control.socket"),
    body,
  }) as Promise<{ status: number; body: any }>;

/** A request to an extension server, pinned to `certFile` of the state directory. */
function call(ctx: Ctx, address: string, path: string, certFile: string, identity = false) {
  const cert = readFileSync(join(ctx.dir, certFile), "utf8");
  return requestJson({
    method: "GET",
    url: `https://${address}${path}`,
    tls: pinnedTlsOptions({
      fingerprint: fingerprint(cert),
      ...(identity
        ? {
          cert: readFileSync(join(ctx.dir, "server.crt"), "utf8"),
          key: readFileSync(join(ctx.dir, "server.key"), "utf8"),
        }
        : {}),
    }),
    timeoutMs: 5_000,
  }) as Promise<{ status: number; body: any }>;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("GET lists each server's address as MicroCluster's map of ServerConfig, and its state", async (ctx) => {
  await until(
    "web listens",
    async () => (await control(ctx, "GET")).body.metadata.web.status === "listening",
  );
  const res = await control(ctx, "GET");
  assert.is(res.status, 200);
  assert.equal(res.body.metadata, {
    web: { address: ctx.web, status: "listening" },
    admin: { address: "", status: "unserved" },
  });
});

test("a server serves its own endpoints on the cluster certificate, and nothing of /core", async (ctx) => {
  await until(
    "web listens",
    async () => (await call(ctx, ctx.web, "/hello", "cluster.crt")).status === 200,
  );
  const hello = await call(ctx, ctx.web, "/hello", "cluster.crt");
  assert.is(hello.body.metadata, "web");
  const core = await call(ctx, ctx.web, "/core/1.0", "cluster.crt");
  assert.is(core.status, 404);
});

test("PUT moves a server (and a dedicated one gets a certificate of its own); the addresses are kept", async (ctx) => {
  const moved = `127.0.0.1:${await freePort()}`;
  const res = await control(ctx, "PUT", { web: { address: moved }, admin: { address: ctx.admin } });
  assert.is(res.status, 200, res.body?.error);
  assert.is((await call(ctx, moved, "/hello", "cluster.crt")).status, 200);
  const old = await call(ctx, ctx.web, "/hello", "cluster.crt").then(
    () => "answered",
    () => "gone",
  );
  assert.is(old, "gone", "the old address no longer answers");
  assert.ok(existsSync(join(ctx.dir, "certificates/admin.crt")));
  const status = await call(ctx, ctx.admin, "/status", "certificates/admin.crt", true);
  assert.is(status.status, 200);
  assert.is(status.body.metadata, "online");
  // Its endpoints keep their access rule: no certificate, no answer.
  assert.is((await call(ctx, ctx.admin, "/status", "certificates/admin.crt")).status, 403);
  const kept = JSON.parse(readFileSync(join(ctx.dir, "servers.json"), "utf8"));
  assert.equal(kept, { web: { address: moved }, admin: { address: ctx.admin } });
  ctx.web = moved;
});

test("PUT refuses an unknown server, an invalid address and one already in use, changing nothing", async (ctx) => {
  const unknown = await control(ctx, "PUT", { nope: { address: "127.0.0.1:1" } });
  assert.is(unknown.status, 400);
  assert.is(unknown.body.error, 'No matching additional listener found for "nope"');
  const invalid = await control(ctx, "PUT", { web: { address: "nowhere" } });
  assert.is(invalid.status, 400);
  assert.match(invalid.body.error, /web\.address/);
  const taken = await control(ctx, "PUT", { web: { address: ctx.address } });
  assert.is(taken.status, 400);
  assert.is(taken.body.error, `Address "${ctx.address}" is already in use`);
  const twice = await control(ctx, "PUT", { web: { address: ctx.admin } });
  assert.is(twice.status, 400);
  assert.equal((await control(ctx, "GET")).body.metadata, {
    web: { address: ctx.web, status: "listening" },
    admin: { address: ctx.admin, status: "listening" },
  });
});

test.run();
