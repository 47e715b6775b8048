/**
 * `PUT /core/1.0/cluster/certificates/{name}` as an operator's MicroCluster script uses it,
 * against three real daemons of an app with an extension server (`web`, on the cluster's
 * certificate until given its own): the request on one member (MicroCluster's `KeyPair`, as Go
 * encodes it) reaches every member, whose `web` then presents the new certificate to a TLS
 * client; a pair that cannot be served changes nothing anywhere; with one member down, the
 * answer names it, and the members up hold the new pair.
 */
import type { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { suite } from "../helpers/suite.ts";
import { appCommand } from "../helpers/app.ts";
import {
  api,
  bootstrapAndJoin,
  daemonArgs,
  eventually,
  type Member,
  newMember,
  stateFile,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { check, goEncode, KeyPair, Response } from "../helpers/go_types.ts";
import { freePort, startDaemonProcess, waitForSocket } from "../helpers/process.ts";
import { type Ca, newCa, pairOf, type PemPair, presented } from "../helpers/server_pairs.ts";

const APP = join(import.meta.dirname ?? ".", "../app/fixtures/servers_app.ts");
const PATH = "/core/1.0/cluster/certificates/web";

interface Ctx {
  members: Member[];
  /** Each member's `web` address, by member name. */
  web: Record<string, string>;
  ca: Ca;
}

const test = suite<Ctx>("PUT /core/1.0/cluster/certificates/{name}, three members");

/** A certificate's SHA-256 fingerprint as `presented` reports it. */
const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

test.before(async (ctx) => {
  ctx.ca = await newCa();
  ctx.members = await Promise.all(["m1", "m2", "m3"].map(newMember));
  ctx.web = {};
  for (const m of ctx.members) {
    ctx.web[m.name] = `127.0.0.1:${await freePort()}`;
    m.daemon = startDaemonProcess(daemonArgs(m), appCommand(APP), {
      COHORT_TEST_SERVERS: JSON.stringify({ web: { address: ctx.web[m.name] } }),
    });
  }
  await Promise.all(ctx.members.map((m) => waitForSocket(m.dir, m.daemon)));
  await bootstrapAndJoin(ctx.members);
});

test.after(async (ctx) => {
  await stopMembers(ctx.members ?? []);
});

/** Waits until every member of `on` serves `web`, presenting the certificate `cert`. */
async function presenting(ctx: Ctx, on: Member[], cert: string): Promise<void> {
  const want = fingerprintOf(cert);
  for (const m of on) {
    await eventually(`${m.name}'s web presents ${want.slice(0, 11)}`, async () => {
      const servers = (await api(m, "GET", "/core/1.0/daemon/servers")).body?.metadata;
      if (servers?.web?.status !== "listening") throw new Error(JSON.stringify(servers));
      const got = await presented(ctx.web[m.name]!);
      if (got !== want) throw new Error(`presents ${got}`);
      return true;
    });
  }
}

/**
 * A client on one kept-alive connection to `address`, asking `GET /hi` every 300 ms (well within
 * the server's idle limit) until `stop()`, which resolves with each answer's status line, and
 * with how the connection ended, if it did.
 */
async function keptConnection(address: string) {
  const [host, port] = address.split(":");
  const socket = connect({ host, port: Number(port), rejectUnauthorized: false });
  let ended = "";
  socket.on("error", (err) => (ended = `error: ${err.message}`));
  socket.on("close", () => (ended ||= "closed"));
  await new Promise((r) => socket.once("secureConnect", r));
  let buffer = "";
  let waiting: ((line: string) => void) | undefined;
  const take = () => {
    const head = buffer.indexOf("\r\n\r\n");
    if (head < 0 || !waiting) return;
    const length = Number(/content-length: *(\d+)/i.exec(buffer.slice(0, head))?.[1] ?? 0);
    if (buffer.length < head + 4 + length) return;
    const line = buffer.split("\r\n")[0]!;
    buffer = buffer.slice(head + 4 + length);
    const w = waiting;
    waiting = undefined;
    w(line);
  };
  socket.on("data", (d: Buffer) => {
    buffer += d.toString("latin1");
    take();
  });
  socket.on("close", () => waiting?.(ended));
  const ask = () =>
    new Promise<string>((resolve) => {
      if (ended) return resolve(ended);
      waiting = resolve;
      socket.write(`GET /hi HTTP/1.1\r\nHost: ${address}\r\n\r\n`);
    });
  const lines: string[] = [await ask()];
  let stopping = false;
  const loop = (async () => {
    while (!stopping && !ended) {
      await new Promise((r) => setTimeout(r, 300));
      lines.push(await ask());
    }
    lines.push(await ask());
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      socket.destroy();
      return lines;
    },
  };
}

/** `PUT` of `pair` on `m`'s control socket, as MicroCluster's Go client encodes `KeyPair`. */
const put = (m: Member, pair: Partial<PemPair>) =>
  api(m, "PUT", PATH, goEncode(KeyPair, { ...pair }));

test("a pair put on one member is served by every member's web; the answer names them all", async (ctx) => {
  const [m1, m2, m3] = ctx.members;
  await presenting(ctx, ctx.members, stateFile(m1!, "cluster.crt"));
  const pair = await pairOf(ctx.ca, "web");
  const client = await keptConnection(ctx.web.m2!);
  let lines: string[] = [];
  try {
    const res = await put(m1!, pair);
    assert.is(res.status, 200, res.body?.error);
    assert.equal(check(Response, res.body), { errors: [], absent: [], extra: [], cased: [] });
    assert.equal(res.body.metadata, { replaced_on: ["m1", "m2", "m3"] });
  } finally {
    lines = await client.stop();
  }
  // m2's listener took the pair in place: a client's open connection was not cut.
  assert.equal([...new Set(lines)], ["HTTP/1.1 200 OK"], lines.join(", "));
  await presenting(ctx, [m1!, m2!, m3!], pair.cert);
  for (const m of ctx.members) {
    assert.is(stateFile(m, "certificates/web.crt"), pair.cert, m.name);
    assert.is(stateFile(m, "certificates/web.key"), pair.key, m.name);
  }
});

test("a pair that cannot be served is a 400 naming the field: nothing changes anywhere", async (ctx) => {
  const [, m2] = ctx.members;
  const before = ctx.members.map((m) => stateFile(m, "certificates/web.crt"));
  const one = await pairOf(ctx.ca, "web");
  const other = await pairOf(ctx.ca, "web");
  const res = await put(m2!, { cert: one.cert, key: other.key });
  assert.is(res.status, 400);
  assert.is(res.body.error, "Invalid request body: key is not the key of cert");
  const cut = await put(m2!, { cert: one.cert.slice(0, 100), key: one.key });
  assert.is(cut.status, 400);
  assert.is(cut.body.error, "Invalid request body: cert is not a PEM certificate");
  assert.equal(ctx.members.map((m) => stateFile(m, "certificates/web.crt")), before);
  await presenting(ctx, ctx.members, before[0]!);
});

test("with a member down, the answer is a 503 naming it; the members up serve the new pair", async (ctx) => {
  const [m1, m2, m3] = ctx.members;
  const kept = stateFile(m3!, "certificates/web.crt");
  await stop(m3!);
  const pair = await pairOf(ctx.ca, "web");
  const res = await put(m2!, pair);
  assert.is(res.status, 503);
  assert.match(
    res.body.error,
    /^The key pair of "web" was replaced on "m2", "m1" but not on "m3" \(/,
  );
  assert.match(res.body.error, /: send the request again once they are up$/);
  await presenting(ctx, [m1!, m2!], pair.cert);
  assert.is(stateFile(m3!, "certificates/web.crt"), kept, "m3 was down: it kept its pair");
});

test.run();
