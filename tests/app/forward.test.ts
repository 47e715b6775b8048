/**
 * `?target=` forwarding (lib/app/forward.ts) between real listeners in one process: the
 * request arrives on a member's control socket and reaches the target's HTTPS listener with
 * its method, path, query, headers and exact body, this member's certificate presented and the
 * target pinned to the cluster certificate; the answer comes back as it was.
 */
// deno-lint-ignore-file no-explicit-any
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { httpsForwarder } from "../../lib/app/forward.ts";
import { fingerprint, generateCertificate } from "../../lib/net/certificates.ts";
import { requestJson } from "../../lib/net/client.ts";
import { type Listener, serveHttps, serveUnix } from "../../lib/net/serve.ts";

const test = suite("app forwarding");

interface World {
  dir: string;
  target: Listener;
  socket: Listener;
  seen: { method: string; url: string; body: string; bytes: number; peer?: string; by: string }[];
  member: string;
}

async function world(targetCert?: { cert: string; key: string }): Promise<World> {
  const cluster = await generateCertificate({ name: "cluster", addresses: ["127.0.0.1"] });
  const own = await generateCertificate({ name: "m1" });
  const dir = mkdtempSync(join(tmpdir(), "cohort-forward-"));
  writeFileSync(join(dir, "cluster.crt"), cluster.cert);
  writeFileSync(join(dir, "server.crt"), own.cert);
  writeFileSync(join(dir, "server.key"), own.key);
  const seen: World["seen"] = [];
  const served = targetCert ?? cluster;
  const target = await serveHttps({
    host: "127.0.0.1",
    port: 0,
    cert: served.cert,
    key: served.key,
    handler: async (request, ctx) => {
      const buffer = await request.arrayBuffer();
      seen.push({
        method: request.method,
        url: request.url,
        body: new TextDecoder().decode(buffer),
        bytes: buffer.byteLength,
        peer: ctx.peerFingerprint,
        by: request.headers.get("x-cohort-forwarded-by") ?? "",
      });
      return new Response(JSON.stringify({ answered: "m2" }), {
        status: 202,
        headers: { "content-type": "application/json", "x-app": "yes" },
      });
    },
  });
  const service: any = {
    clusterMembers: () => Promise.resolve([{ name: "m2", address: target.address }]),
    info: () => ({ name: "m1" }),
  };
  const forward = httpsForwarder(dir, service);
  const socket = await serveUnix({
    path: join(dir, "control.socket"),
    handler: (request) => forward(new URL(request.url).searchParams.get("target")!, request),
  });
  return { dir, target, socket, seen, member: fingerprint(own.cert) };
}

async function close(w: World): Promise<void> {
  await Promise.all([w.target.close(), w.socket.close()]);
  rmSync(w.dir, { recursive: true, force: true });
}

test("the target gets the exact request with this member's certificate, and the caller its exact answer", async () => {
  const w = await world();
  try {
    const res = await requestJson({
      method: "PUT",
      path: "/1.0/widgets/a?target=m2&x=1",
      socketPath: join(w.dir, "control.socket"),
      body: { colour: "red" },
    });
    assert.is(res.status, 202);
    assert.equal(res.body, { answered: "m2" });
    assert.is(w.seen.length, 1);
    const got = w.seen[0]!;
    assert.is(got.method, "PUT");
    assert.match(got.url, /\/1\.0\/widgets\/a\?target=m2&x=1$/);
    // Exactly the body sent (a request's arrayBuffer() once returned node's whole 8 KiB pool).
    assert.is(got.body, '{"colour":"red"}');
    assert.is(got.bytes, 16);
    assert.is(got.peer, w.member);
    assert.is(got.by, "m1");
  } finally {
    await close(w);
  }
});

test("an unknown member is a 404 and a target presenting another certificate is refused", async () => {
  const w = await world(await generateCertificate({ name: "impostor", addresses: ["127.0.0.1"] }));
  try {
    const ask = (target: string) =>
      requestJson({
        method: "GET",
        path: `/1.0/x?target=${target}`,
        socketPath: join(w.dir, "control.socket"),
      });
    const unknown = await ask("nobody");
    assert.is(unknown.status, 404);
    assert.match((unknown.body as any).error, /No member named "nobody"/);
    const impostor = await ask("m2");
    assert.is(impostor.status, 403);
    assert.is(w.seen.length, 0);
  } finally {
    await close(w);
  }
});

test.run();
