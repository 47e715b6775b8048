/**
 * What arrived while the member's event loop was held (a stalled machine, a member stopped with
 * SIGSTOP, a long task) is served once the loop runs again, not reset unread: a held loop runs
 * its expired timers before it reads the sockets again, and a deadline judging "nothing
 * arrived" then must look once more (`lib/net/late_deadline.ts`).
 * Found by the soak benchmark (`scripts/bench/soak.ts`): `cohort metrics` sent just as its
 * member was stopped for 20 s failed with ECONNRESET when the member went on, because the new
 * connection's head deadline (10 s) ran before the request bytes waiting in the socket were
 * read. The same held for a connection waiting for its turn and for a request's body. Played in
 * one process: the connections are accepted, then the loop is held past the deadline right
 * after the bytes are written.
 */
import { stat } from "node:fs";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readRequestText } from "../../lib/net/node_request.ts";
import { type HttpLimits, type Listener, serveHttps, serveUnix } from "../../lib/net/serve.ts";
import { keyPair, tempDir } from "./_helpers.ts";

const test = suite("what arrived while the loop was held");

const DEADLINE_MS = 200;
const GET = "GET /x HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n";

/** A client connection, its answer so far, and how it ended. */
async function dial(
  path: string,
): Promise<{ socket: Socket; answer: () => string; ended: Promise<string> }> {
  const socket = connect(path);
  let answer = "";
  socket.on("data", (d) => (answer += d));
  const ended = new Promise<string>((done) => {
    socket.on("error", (err) => done(`error: ${(err as Error).message}`));
    socket.on("close", () => done("closed"));
  });
  await new Promise((r) => socket.once("connect", r));
  return { socket, answer: () => answer, ended };
}

/**
 * Calls `write` and holds the loop past the deadline, inside an I/O callback: as a stopped
 * member mostly is when it is not idle, the loop then runs its expired timers before it reads
 * the sockets again.
 */
function holdAfter(dir: string, write: () => void): Promise<void> {
  return new Promise<void>((done) =>
    stat(dir, () => {
      write();
      const until = performance.now() + 3 * DEADLINE_MS;
      while (performance.now() < until) { /* the loop is held */ }
      done();
    })
  );
}

/** Serves `handler` on a unix socket in a temporary directory with `limits` for the test. */
async function serving(
  limits: Partial<HttpLimits>,
  handler: (req: Request) => Promise<Response>,
  play: (dir: string, listener: Listener) => Promise<void>,
): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const listener = await serveUnix({ path: join(dir, "s.sock"), handler, limits });
  try {
    await play(dir, listener);
  } finally {
    await listener.close();
    await cleanup();
  }
}

test("a request on a new connection is answered (head deadline)", async () => {
  const handler = () => Promise.resolve(new Response("ok"));
  await serving({ headersTimeoutMs: DEADLINE_MS }, handler, async (dir, listener) => {
    const client = await dial(listener.address);
    // The listener accepts the connection (and starts its head deadline) in the next turns.
    await new Promise((r) => setTimeout(r, 50));
    await holdAfter(dir, () => client.socket.write(GET));
    const how = await client.ended;
    assert.match(client.answer(), /^HTTP\/1\.1 200 /, `no answer (${how})`);
  });
});

test("a request on a new TLS connection is answered (handshake deadline)", async () => {
  const pair = await keyPair("cluster");
  const { dir, cleanup } = await tempDir();
  const listener = await serveHttps({
    host: "127.0.0.1",
    port: 0,
    cert: pair.cert,
    key: pair.key,
    handler: () => Promise.resolve(new Response("ok")),
    limits: { headersTimeoutMs: DEADLINE_MS },
  });
  try {
    const raw = connect(listener.port!, "127.0.0.1");
    await new Promise((r) => raw.once("connect", r));
    // The listener accepts the connection (and starts its handshake deadline) in the next turns.
    await new Promise((r) => setTimeout(r, 50));
    let answer = "";
    let ended!: Promise<string>;
    await holdAfter(dir, () => {
      const tls = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: "cluster" });
      tls.on("secureConnect", () => tls.write(GET));
      tls.on("data", (d) => (answer += d));
      ended = new Promise<string>((done) => {
        tls.on("error", (err) => done(`error: ${err.message}`));
        tls.on("close", () => done("closed"));
      });
    });
    const how = await ended;
    assert.match(answer, /^HTTP\/1\.1 200 /, `no answer (${how})`);
  } finally {
    await listener.close();
    await cleanup();
  }
});

test("a request on a connection waiting for its turn is answered (turn deadline)", async () => {
  const handler = () => Promise.resolve(new Response("ok"));
  const limits = { headersTimeoutMs: DEADLINE_MS, maxPending: 1, maxPendingPerPeer: 1 };
  await serving(limits, handler, async (dir, listener) => {
    const first = await dial(listener.address);
    const second = await dial(listener.address);
    // Both accepted: the first has the one turn, the second waits for it, unread.
    while (listener.guard.unanswered.waiting === 0) await new Promise((r) => setTimeout(r, 10));
    await holdAfter(dir, () => {
      first.socket.write(GET);
      second.socket.write(GET);
    });
    const [one, two] = await Promise.all([first.ended, second.ended]);
    assert.match(first.answer(), /^HTTP\/1\.1 200 /, `no answer on the first (${one})`);
    assert.match(second.answer(), /^HTTP\/1\.1 200 /, `no answer on the second (${two})`);
  });
});

test("a request's body is read (body deadline)", async () => {
  let reading!: () => void;
  const read = new Promise<void>((r) => (reading = r));
  const handler = async (req: Request) => {
    reading();
    return new Response(`got ${await readRequestText(req, 100)}`);
  };
  const limits = { headersTimeoutMs: 10_000, bodyTimeoutMs: DEADLINE_MS };
  await serving(limits, handler, async (dir, listener) => {
    const client = await dial(listener.address);
    client.socket.write(
      "POST /x HTTP/1.1\r\nHost: s\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
    );
    await read; // the handler reads the body: its deadline runs
    await holdAfter(dir, () => client.socket.write("{}"));
    const how = await client.ended;
    assert.match(
      client.answer(),
      /^HTTP\/1\.1 200 [^]*got \{\}/,
      `no answer (${how}): ${client.answer()}`,
    );
  });
});

test("a refused request's small body is dropped, the connection kept (body deadline)", async () => {
  let called!: () => void;
  const answered = new Promise<void>((r) => (called = r));
  const handler = (req: Request) => {
    if (req.method === "GET") return Promise.resolve(new Response("ok"));
    called(); // refused unread: the answer waits for the rest of the body, to drop it
    return Promise.resolve(new Response("no", { status: 403 }));
  };
  const limits = { headersTimeoutMs: 10_000, bodyTimeoutMs: DEADLINE_MS };
  await serving(limits, handler, async (dir, listener) => {
    const client = await dial(listener.address);
    client.socket.write("POST /x HTTP/1.1\r\nHost: s\r\nContent-Length: 2\r\n\r\n");
    await answered;
    await holdAfter(dir, () => client.socket.write("{}"));
    let ended = false;
    client.ended.then(() => (ended = true));
    while (!ended && !/\bno\b/.test(client.answer())) await new Promise((r) => setTimeout(r, 10));
    // Kept open: the next request on it is answered.
    if (!ended) client.socket.write(GET);
    const how = await client.ended;
    assert.match(
      client.answer(),
      /^HTTP\/1\.1 403 [^]*HTTP\/1\.1 200 /,
      `not kept (${how}): ${client.answer()}`,
    );
  });
});

test.run();
