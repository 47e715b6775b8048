/**
 * An extension server that could not listen is tried again on the member's clock (a simulated
 * one here, as a simulation replays it): after 1 s, then twice as long each time up to a minute,
 * logged once while its reason stays the same, shown at `get()` with its tries, served as soon
 * as the cause is mended, and no longer tried once the member stops.
 *
 * The causes here are ones an operator meets without root: `STATE_DIR/certificates` is a file,
 * so a server with a dedicated certificate has nowhere to find or make its pair; its port is
 * held by another process.
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { suite } from "uvu";
import { ExtensionServers } from "../../lib/app/servers.ts";
import { RETRY_FIRST_MS, RETRY_MAX_MS } from "../../lib/app/server_tries.ts";
import { generateCertificate } from "../../lib/net/certificates.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import { freePort, removeDir, tempDir } from "../helpers/process.ts";
import { memoryLogger } from "../net/_helpers.ts";
import { newCa, pairOf, presented } from "../helpers/server_pairs.ts";

const test = suite("an extension server tried again on the member's clock");
/** The cluster's pair, for a server without a certificate of its own. */
const pair = await generateCertificate({ name: "c", addresses: ["127.0.0.1"] });

/**
 * One server, `web` at `address`, of a member of state directory `dir` on a simulated clock
 * (from now), and the lines its log got about `web` with message `msg`.
 */
function serving(dir: string, address: string, dedicatedCertificate = false) {
  const clock = new SimClock(Date.now());
  const { logger, lines } = memoryLogger();
  const servers = new ExtensionServers({
    dir,
    servers: { web: { address, dedicatedCertificate, endpoints: [] } },
    handlerFor: () => () => Promise.resolve(new Response("web")),
    memberAddress: () => "127.0.0.1:1",
    clock,
    logger,
  });
  const logged = (msg: string) => lines.filter((l) => l.msg === msg && l.server === "web");
  return { clock, servers, logged };
}

/** A member's servers in a fresh state directory whose `certificates` is a file. */
async function failing() {
  const dir = tempDir("cohort-srvretry-");
  writeFileSync(join(dir, "certificates"), "not a directory");
  const address = `127.0.0.1:${await freePort()}`;
  return { dir, address, ...serving(dir, address, true) };
}

/** Waits (real time: the tries read files) until `f` holds. */
async function until(what: string, f: () => boolean): Promise<void> {
  for (const end = Date.now() + 30_000; !f();) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("tries again after 1 s, doubling to a minute, logged once; served once mended", async () => {
  const { dir, clock, servers, logged } = await failing();
  try {
    await servers.follow("online");
    const web = () => servers.get().web!;
    assert.is(web().status, "failed");
    assert.is(web().attempts, 1);
    assert.is(
      web().error,
      "certificates in the state directory is a file, not a directory: move it away",
    );
    let wait = RETRY_FIRST_MS;
    for (let attempt = 2; attempt <= 10; attempt++) {
      clock.advance(wait - 1);
      await new Promise((r) => setTimeout(r, 20));
      assert.is(web().attempts, attempt - 1, `not before ${wait} ms`);
      clock.advance(1);
      await until(`try ${attempt}`, () => web().attempts === attempt);
      wait = Math.min(wait * 2, RETRY_MAX_MS);
    }
    assert.is(wait, RETRY_MAX_MS, "the waits reached their bound");
    assert.is(logged("Extension server could not listen").length, 1, "logged once");
    assert.is(clock.pending, 1, "one try waiting");
    rmSync(join(dir, "certificates"));
    clock.advance(RETRY_MAX_MS);
    await until("listening", () => web().status === "listening");
    assert.equal(Object.keys(web()).sort(), ["address", "status"]);
    assert.is(logged("Extension server listening").length, 1);
    assert.is(clock.pending, 1, "nothing left to try but the watch of its certificate's expiry");
  } finally {
    await servers.close();
    removeDir(dir);
  }
});

test("a member that stops tries no more", async () => {
  const { dir, clock, servers } = await failing();
  try {
    await servers.follow("online");
    assert.is(servers.get().web!.status, "failed");
    assert.is(clock.pending, 1);
    await servers.follow("stopping");
    assert.is(clock.pending, 0, "the try to come is cancelled");
    await servers.follow("online");
    assert.is(clock.pending, 1, "tried again when it runs again");
    await servers.close();
    assert.is(clock.pending, 0);
    rmSync(join(dir, "certificates"));
    clock.advance(RETRY_MAX_MS * 2);
    await new Promise((r) => setTimeout(r, 50));
    assert.is(servers.get().web!.status, "starting", "not tried after its stop");
  } finally {
    await servers.close();
    removeDir(dir);
  }
});

test("PUT of a server that is not listening tries it again at once, the waits from the start", async () => {
  const { dir, clock, servers, address, logged } = await failing();
  try {
    await servers.follow("online");
    clock.advance(RETRY_FIRST_MS);
    await until("second try", () => servers.get().web!.attempts === 2);
    await servers.set({ web: { address } });
    assert.is(servers.get().web!.attempts, 3, "tried at the PUT");
    assert.is(logged("Extension server could not listen").length, 1, "same reason: no new line");
    rmSync(join(dir, "certificates"));
    clock.advance(RETRY_FIRST_MS);
    await until("listening", () => servers.get().web!.status === "listening");
  } finally {
    await servers.close();
    removeDir(dir);
  }
});

test("a port another process holds is tried again, and served once it is let go", async () => {
  const dir = tempDir("cohort-srvretry-");
  const port = await freePort();
  const holder = createServer();
  await new Promise<void>((done) => holder.listen(port, "127.0.0.1", done));
  writeFileSync(join(dir, "cluster.crt"), pair.cert);
  writeFileSync(join(dir, "cluster.key"), pair.key, { mode: 0o600 });
  const { clock, servers } = serving(dir, `127.0.0.1:${port}`);
  try {
    await servers.follow("online");
    const web = () => servers.get().web!;
    assert.is(web().status, "failed");
    assert.match(web().error!, /in use by another process \(EADDRINUSE\)/);
    await new Promise<void>((done) => holder.close(() => done()));
    clock.advance(RETRY_FIRST_MS);
    await until("listening", () => web().status === "listening");
  } finally {
    holder.close();
    await servers.close();
    removeDir(dir);
  }
});

test("a placed certificate that expires while served is refused then, and tried until replaced", async () => {
  const dir = tempDir("cohort-srvretry-");
  const certs = join(dir, "certificates");
  mkdirSync(certs);
  const ca = await newCa();
  const place = (p: { cert: string; key: string }) => {
    writeFileSync(join(certs, "web.crt"), p.cert);
    writeFileSync(join(certs, "web.key"), p.key, { mode: 0o600 });
  };
  // Valid for a minute more by the member's clock.
  const short = await pairOf(ca, "web", undefined, { to: Date.now() + 60_000 });
  place(short);
  const address = `127.0.0.1:${await freePort()}`;
  const { clock, servers, logged } = serving(dir, address);
  try {
    await servers.follow("online");
    const web = () => servers.get().web!;
    assert.is(web().status, "listening");
    assert.is(await presented(address), new X509Certificate(short.cert).fingerprint256);
    clock.advance(30_000);
    await new Promise((r) => setTimeout(r, 20));
    assert.is(web().status, "listening", "still valid");
    clock.advance(32_000);
    await until("refused", () => web().status === "failed");
    assert.match(web().error!, /^certificates\/web\.crt in the state directory expired at /);
    assert.is(await presented(address), "error: ECONNREFUSED");
    assert.is(logged("Extension server certificate expired").length, 1);
    const renewed = await pairOf(ca, "web");
    place(renewed);
    clock.advance(RETRY_FIRST_MS);
    await until("listening", () => web().status === "listening");
    assert.is(await presented(address), new X509Certificate(renewed.cert).fingerprint256);
  } finally {
    await servers.close();
    removeDir(dir);
  }
});

test.run();
