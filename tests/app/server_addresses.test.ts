/**
 * The addresses of an app's extension servers follow the one rule of member addresses
 * (`parseAddress`, `address_stored.ts`), in process with real listeners: two servers the app
 * gives one address in two spellings are refused at `createMember` (before, both were taken and
 * the second never listened, with only a log line); an app's default in a long spelling is listed
 * and compared in its one spelling (before, `PUT` accepted `[::1]:P` for another server while
 * the first listened at `[0:0:0:0:0:0:0:1]:P`, and that server never listened); and an address
 * an earlier release kept in `servers.json` in a spelling now refused (`127.0.0.1:0P`) is still
 * where the server listens (before, it was dropped and the server went back to the app's default).
 */
// deno-lint-ignore-file no-explicit-any
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { createMember, type Daemon, silentLogger, syncResponse } from "../../mod.ts";
import type { AppServer } from "../../lib/app/servers.ts";
import { InvalidInputError } from "../../lib/errors.ts";
import { inProcessIssuer } from "../../lib/net/cert_issuer.ts";
import { requestJson } from "../../lib/net/client.ts";
import { fingerprint } from "../../lib/net/certificates.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { freePort, removeDir, tempDir } from "../helpers/process.ts";

const test = suite("extension server addresses");
const dirs: string[] = [];
const members: Daemon[] = [];

test.after(async () => {
  for (const m of members) await m.stop().catch(() => {});
  for (const d of dirs) removeDir(d);
});

/** A server answering `GET /name` with its name, for anybody, at `address` (if given). */
const server = (name: string, address?: string): AppServer => ({
  ...(address === undefined ? {} : { address }),
  endpoints: [{ method: "GET", path: "/name", access: "open", handler: () => syncResponse(name) }],
});

async function member(dir: string, servers: Record<string, AppServer>): Promise<Daemon> {
  const m = await createMember({
    stateDir: dir,
    gossipPreset: "local",
    metrics: false,
    logger: silentLogger,
    certificateIssuer: inProcessIssuer,
    servers,
  });
  members.push(m);
  return m;
}

const control = (dir: string, method: string, body?: unknown) =>
  requestJson({
    method,
    path: "/core/1.0/daemon/servers",
    socketPath: join(dir, "control.socket"),
    body,
  }) as Promise<{ status: number; body: any }>;

/** What the server at `address` answers to `GET /name` (on the cluster's certificate). */
async function nameAt(dir: string, address: string): Promise<string> {
  const cert = readFileSync(join(dir, "cluster.crt"), "utf8");
  const deadline = Date.now() + 15_000;
  while (true) {
    try {
      const res = await requestJson({
        method: "GET",
        url: `https://${address}/name`,
        tls: pinnedTlsOptions({ fingerprint: fingerprint(cert) }),
        timeoutMs: 5_000,
      }) as { body: any };
      return res.body.metadata;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

test("two servers the app gives one address in two spellings are refused, naming both", async () => {
  const dir = tempDir("cohort-srv-");
  dirs.push(dir);
  const port = await freePort();
  const err = await member(dir, {
    web: server("web", `[0:0:0:0:0:0:0:1]:${port}`),
    admin: server("admin", `[::1]:${port}`),
  }).then(() => undefined, (e) => e);
  assert.ok(err, "createMember must refuse them");
  assert.instance(err, InvalidInputError);
  assert.match(
    err.message,
    `servers.admin.address: [::1]:${port} is also the address of server "web"`,
  );
});

test("a default in a long spelling and a stored one an earlier release kept are served and compared in their one spelling", async () => {
  const dir = tempDir("cohort-srv-");
  dirs.push(dir);
  const [own, web, admin] = [await freePort(), await freePort(), await freePort()];
  // As an earlier release wrote it after `PUT {"admin":{"address":"127.0.0.1:0<port>"}}`.
  writeFileSync(
    join(dir, "servers.json"),
    JSON.stringify({ admin: { address: `127.0.0.1:0${admin}` } }),
  );
  const m = await member(dir, {
    web: server("web", `[0:0:0:0:0:0:0:1]:${web}`),
    admin: server("admin", `127.0.0.1:${await freePort()}`),
  });
  await m.initialize({ bootstrap: true, name: "s1", address: `127.0.0.1:${own}` });
  const listed = await control(dir, "GET");
  // The addresses (each entry also says whether its server listens yet).
  const addresses = (metadata: Record<string, any>) =>
    Object.fromEntries(Object.entries(metadata).map(([n, s]) => [n, { address: s.address }]));
  assert.equal(addresses(listed.body.metadata), {
    web: { address: `[::1]:${web}` },
    admin: { address: `127.0.0.1:${admin}` },
  });
  assert.is(await nameAt(dir, `[::1]:${web}`), "web");
  assert.is(await nameAt(dir, `127.0.0.1:${admin}`), "admin");
  const taken = await control(dir, "PUT", { admin: { address: `[::1]:${web}` } });
  assert.is(taken.status, 400, JSON.stringify(taken.body));
  assert.is(taken.body.error, `Address "[::1]:${web}" is already in use`);
  const ownTaken = await control(dir, "PUT", { admin: { address: `127.0.0.1:${own}` } });
  assert.is(ownTaken.status, 400, JSON.stringify(ownTaken.body));
  assert.equal(
    addresses((await control(dir, "GET")).body.metadata),
    addresses(listed.body.metadata),
  );
});

test.run();
