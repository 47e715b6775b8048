/**
 * `PUT /core/1.0/cluster/certificates/{name}` through the router, with the real extension
 * servers (`ExtensionServers`, not listening: the member's status is scripted) over a temporary
 * state directory: what is checked before anything changes, what is written, when the request
 * goes on to the other members (and when not: a notification, before init), and how an answer
 * names members that did not take it.
 */
// deno-lint-ignore-file no-explicit-any
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ExtensionServers } from "../../lib/app/servers.ts";
import { systemClock } from "../../lib/cluster/clock.ts";
import { NOTIFIER_AGENT } from "../../lib/daemon/peers.ts";
import type { Caller } from "../../lib/daemon/service.ts";
import { silentLogger } from "../../lib/log.ts";
import { createRouter, type FetchHandler } from "../../routes/router.ts";
import { type Ca, newCa, newKey, pairOf, pemKey, type PemPair } from "../helpers/server_pairs.ts";
import { ANONYMOUS, FakeService, STRANGER, TRUSTED, UNIX } from "./fake_service.ts";

interface Ctx {
  dir: string;
  service: FakeService;
  handler: FetchHandler;
}

const test = suite<Ctx>("PUT /core/1.0/cluster/certificates/{name}");
const DAY = 86_400_000;
let ca: Ca;
let good: PemPair;

test.before(async () => {
  ca = await newCa();
  good = await pairOf(ca, "web");
});

test.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "cohort-certput-"));
  ctx.service = new FakeService();
  const servers = new ExtensionServers({
    dir: ctx.dir,
    servers: { web: { endpoints: [], address: "127.0.0.1:1" } },
    handlerFor: () => () => Promise.resolve(new Response()),
    memberAddress: () => "",
    clock: systemClock,
    logger: silentLogger,
  });
  ctx.handler = createRouter(ctx.service, { servers });
});

test.after.each(({ dir }) => rmSync(dir, { recursive: true, force: true }));

async function put(
  ctx: Ctx,
  name: string,
  body: unknown,
  caller: Caller = TRUSTED,
  headers: Record<string, string> = {},
): Promise<[number, any]> {
  const res = await ctx.handler(
    new Request(`http://cohort/core/1.0/cluster/certificates/${name}`, {
      method: "PUT",
      headers,
      body: JSON.stringify(body),
    }),
    caller,
  );
  return [res.status, await res.json()];
}

const files = (dir: string) =>
  ["crt", "key"].map((e) => {
    const f = join(dir, "certificates", `web.${e}`);
    return existsSync(f) ? readFileSync(f, "utf8") : undefined;
  });

test("before init: the pair is written whole (key 0600) on this member alone", async (ctx) => {
  const [status, body] = await put(ctx, "web", { ...good, ca: "" }, UNIX);
  assert.is(status, 200, body.error);
  assert.equal(body.metadata, { replaced_on: ["host1"] });
  assert.equal(files(ctx.dir), [good.cert, good.key]);
  assert.is(statSync(join(ctx.dir, "certificates/web.key")).mode & 0o777, 0o600);
  assert.equal(ctx.service.notifications, [], "nobody to tell before init");
});

test("online: written here, then sent to every other member as MicroCluster's KeyPair", async (ctx) => {
  ctx.service.state = "online";
  ctx.service.notified = [{ name: "m2", ok: true }, { name: "m3", ok: true }];
  const [status, body] = await put(ctx, "web", { cert: good.cert, key: good.key });
  assert.is(status, 200, body.error);
  assert.equal(body.metadata, { replaced_on: ["host1", "m2", "m3"] });
  assert.equal(files(ctx.dir), [good.cert, good.key]);
  assert.equal(ctx.service.notifications, [{
    method: "PUT",
    path: "/core/1.0/cluster/certificates/web",
    body: { cert: good.cert, key: good.key, ca: "" },
  }]);
});

test("a notification is handled here alone: it is never sent on", async (ctx) => {
  ctx.service.state = "online";
  const [status, body] = await put(ctx, "web", good, TRUSTED, { "user-agent": NOTIFIER_AGENT });
  assert.is(status, 200, body.error);
  assert.equal(body.metadata, { replaced_on: ["host1"] });
  assert.equal(files(ctx.dir), [good.cert, good.key]);
  assert.equal(ctx.service.notifications, []);
});

test("members that did not take it are named with their reason: a 503, never a silent partial", async (ctx) => {
  ctx.service.state = "online";
  ctx.service.notified = [
    { name: "m2", ok: true },
    { name: "m3", ok: false, error: "Cannot reach 10.0.0.3:9001: connection refused" },
  ];
  const [status, body] = await put(ctx, "web", good);
  assert.is(status, 503);
  assert.is(
    body.error,
    'The key pair of "web" was replaced on "host1", "m2" but not on "m3" (Cannot reach ' +
      "10.0.0.3:9001: connection refused): send the request again once they are up",
  );
});

test("a pair that cannot be served is a 400 naming the field and the fault: nothing changes, nothing is sent", async (ctx) => {
  ctx.service.state = "online";
  const other = await pairOf(ca, "other");
  const weak = newKey("rsa:1024");
  const expired = await pairOf(ca, "web", "ec:prime256v1", {
    from: Date.now() - 3 * DAY,
    to: Date.now() - DAY,
  });
  const encrypted = newKey("ec:prime256v1").privateKey.export({
    type: "pkcs8",
    format: "pem",
    cipher: "aes-256-cbc",
    passphrase: "secret",
  }) as string;
  const cases: [unknown, RegExp][] = [
    [
      { cert: good.cert.slice(0, 200), key: good.key },
      /^Invalid request body: cert is not a PEM certificate$/,
    ],
    [{ cert: good.cert, key: "nonsense" }, /^Invalid request body: key is not a PEM private key$/],
    [
      { cert: good.cert, key: encrypted },
      /^Invalid request body: key is encrypted: send the key unencrypted$/,
    ],
    [{ cert: good.cert, key: other.key }, /^Invalid request body: key is not the key of cert$/],
    [{ cert: expired.cert, key: expired.key }, /^Invalid request body: cert expired at \d{4}-/],
    [
      {
        cert: await pairOf(ca, "web", "rsa:1024").then((p) => p.cert),
        key: pemKey(weak.privateKey),
      },
      /^Invalid request body: cert holds an RSA key of 1024 bits, which TLS clients do not accept/,
    ],
    [{ ...good, ca: "-----BEGIN CERTIFICATE-----" }, /^Invalid request body: ca: not supported/],
    [{ cert: good.cert }, /key/],
    [{ ...good, extra: 1 }, /extra/],
  ];
  await put(ctx, "web", { ...good, ca: "" }, TRUSTED, { "user-agent": NOTIFIER_AGENT });
  for (const [body, error] of cases) {
    const [status, answer] = await put(ctx, "web", body);
    assert.is(status, 400, JSON.stringify(answer));
    assert.match(answer.error, error);
    assert.equal(files(ctx.dir), [good.cert, good.key], "the pair in place is kept");
  }
  assert.equal(ctx.service.notifications, []);
});

test("an unknown name is a 404; cluster and server are refused (501) saying why; strangers 403", async (ctx) => {
  ctx.service.state = "online";
  const [unknown, u] = await put(ctx, "nosuch", good);
  assert.is(unknown, 404);
  assert.is(u.error, 'No matching additional server found for "nosuch"');
  const [cluster, c] = await put(ctx, "cluster", good);
  assert.is(cluster, 501);
  assert.match(c.error, /"cluster" certificate is not supported: every member pins it/);
  const [server, s] = await put(ctx, "server", good);
  assert.is(server, 501);
  assert.match(s.error, /"server" certificate is not supported/);
  for (const caller of [STRANGER, ANONYMOUS]) {
    assert.is((await put(ctx, "web", good, caller))[0], 403);
  }
  assert.equal(files(ctx.dir), [undefined, undefined]);
  assert.equal(ctx.service.notifications, []);
});

test.run();
