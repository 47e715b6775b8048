/**
 * End to end, with real member daemons on loopback (m3 always under Deno, the others under the
 * test's runtime): the app's replicated records through `/core/1.0/records`. A put on m1 is read
 * on m2 and m3; m2 restarted reads it again from its own store; what changed while m2 was down
 * reaches it after its restart; a put answered is in the writer's store even when it is killed
 * (-9) the moment after; and a member certificate is needed to read over HTTPS.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  api,
  bootstrapAndJoin,
  eventually,
  kill,
  type Member,
  newMember,
  startMember,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fingerprint } from "../../lib/net/certificates.ts";
import { requestJson } from "../../lib/net/client.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";

interface Ctx {
  cluster: Member[];
}

const test = suite<Ctx>("replicated records end to end");

test.before(async (ctx) => {
  const [m1, m2, m3] = await Promise.all(["m1", "m2", "m3"].map(newMember));
  await Promise.all([startMember(m1), startMember(m2), startMember(m3, { runtime: "deno" })]);
  ctx.cluster = await bootstrapAndJoin([m1, m2, m3]);
});

test.after(async (ctx) => {
  await stopMembers(ctx.cluster ?? []);
});

const path = (key: string) => `/core/1.0/records/${encodeURIComponent(key)}`;

/** The value of `key` on `m` once it is `want` (JSON-equal), polled. */
function valueOn(m: Member, key: string, want: unknown): Promise<unknown> {
  return eventually(`${key} = ${JSON.stringify(want)} on ${m.name}`, async () => {
    const r = await api(m, "GET", path(key));
    if (r.status !== 200) throw new Error(`${r.status} ${r.body?.error}`);
    if (JSON.stringify(r.body.metadata.value) !== JSON.stringify(want)) {
      throw new Error(`holds ${JSON.stringify(r.body.metadata.value)}`);
    }
    return r.body.metadata;
  });
}

test("a put on m1 is read on m2 and m3; m2 restarted reads it from its store; changes made while it was down reach it", async ({ cluster }) => {
  const [m1, m2, m3] = cluster;
  const put = await api(m1, "PUT", path("svc/web"), { value: { port: 8080, tls: true } });
  assert.is(put.status, 200, put.body?.error);
  assert.is(put.body.metadata.writer, "m1");
  await api(m1, "PUT", path("svc/db"), { value: { port: 5432 } });
  await api(m1, "PUT", path("doomed"), { value: 1 });
  for (const m of [m2, m3]) {
    const e = await valueOn(m, "svc/web", { port: 8080, tls: true });
    assert.equal(e, put.body.metadata, `${m.name} holds m1's entry, version and writer included`);
    await valueOn(m, "doomed", 1);
  }
  const listed = await api(m3, "GET", "/core/1.0/records?prefix=svc%2F");
  assert.equal(listed.body.metadata.map((e: { key: string }) => e.key), ["svc/db", "svc/web"]);
  // m2 persists in batches (once a second): give it one before stopping it.
  await new Promise((done) => setTimeout(done, 1500));
  await stop(m2);
  await api(m1, "DELETE", path("doomed"));
  await api(m3, "PUT", path("while-down"), { value: "m3 wrote this" });
  // m1 and m3 stopped too: what m2 reads after its restart comes from its own store.
  await Promise.all([stop(m1), stop(m3)]);
  await startMember(m2);
  await valueOn(m2, "svc/web", { port: 8080, tls: true });
  await valueOn(m2, "doomed", 1);
  await Promise.all([startMember(m1), startMember(m3, { runtime: "deno" })]);
  await valueOn(m2, "while-down", "m3 wrote this");
  await eventually("doomed deleted on m2", async () => {
    const r = await api(m2, "GET", path("doomed"));
    return r.status === 404;
  }, 30_000);
});

test("a put answered is in the writer's store: killed at once (-9), it reads it back after restarting", async ({ cluster }) => {
  const [m1, m2, m3] = cluster;
  const put = await api(m2, "PUT", path("durable"), { value: [1, 2, 3] });
  assert.is(put.status, 200, put.body?.error);
  await kill(m2);
  // Alone after its restart: nothing can come from the others.
  await Promise.all([stop(m1), stop(m3)]);
  await startMember(m2);
  const entry = await valueOn(m2, "durable", [1, 2, 3]);
  assert.equal(entry, put.body.metadata);
  await Promise.all([startMember(m1), startMember(m3, { runtime: "deno" })]);
  await Promise.all([valueOn(m1, "durable", [1, 2, 3]), valueOn(m3, "durable", [1, 2, 3])]);
});

test("over HTTPS, reading needs a member certificate; writing is for the control socket", async ({ cluster }) => {
  const [m1, m2] = cluster;
  const read = (file: string) => readFileSync(join(m2.dir, file), "utf8");
  const fp = fingerprint(readFileSync(join(m1.dir, "cluster.crt"), "utf8"));
  const https = (method: string, tls: Parameters<typeof pinnedTlsOptions>[0], body?: unknown) =>
    requestJson({
      url: `https://${m1.address}${path("svc/web")}`,
      method,
      body,
      tls: pinnedTlsOptions(tls),
    });
  assert.is((await https("GET", { fingerprint: fp })).status, 403, "no certificate");
  const member = { fingerprint: fp, cert: read("server.crt"), key: read("server.key") };
  const got = await https("GET", member);
  assert.is(got.status, 200);
  assert.equal((got.body as { metadata: { value: unknown } }).metadata.value, {
    port: 8080,
    tls: true,
  });
  assert.is((await https("PUT", member, { value: 1 })).status, 403, "writes: the socket only");
});

test.run();
