// deno-lint-ignore-file no-explicit-any
/**
 * The listener's limits (lib/net/limits.ts) from outside: raw connections that hold bodies back,
 * trickle heads, or crowd a listener, against serveHttps and serveUnix with small limits. Every
 * assertion is about answers and closes, never about how long they took. The turns of
 * unanswered connections: `waiting_room.test.ts`.
 */
import { Buffer } from "node:buffer";
import { type AddressInfo, connect as netConnect, createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { serveUnix } from "../../lib/net/serve.ts";
import { head, tlsConnection, unixConnection, within } from "../helpers/raw_http.ts";
import { memoryLogger, tempDir } from "./_helpers.ts";
import {
  closeOpened,
  handler,
  holdBodies,
  open,
  opened,
  SMALL,
  waitFor,
  withHttps,
} from "./limits_fixture.ts";

const test = suite("listener limits");
test.after.each(closeOpened);

test("a request refused before its body is read is answered while the body is held back", async () => {
  await withHttps(SMALL, async (port, listener) => {
    const c = open(port);
    await c.ready;
    c.socket.write(head("POST", "/refuse", { "content-length": 1_048_576 }) + "x".repeat(100));
    const answer = await within(c.answer, 5000, "answer");
    assert.is(answer.status, 403);
    await within(c.closed, 5000, "close"); // a large unread body closes the connection
    assert.is(listener.guard.bufferedBytes, 0, "nothing was reserved");
  });
});

test("a body its handler has not asked for yet is not read from the network; then it is, whole", async () => {
  const MiB = 1024 * 1024;
  const limits = {
    ...SMALL,
    maxBodyBytes: 4 * MiB,
    maxBufferedBytes: 4 * MiB,
    maxBufferedBytesPerPeer: 4 * MiB,
    bodyTimeoutMs: 20_000,
  };
  await withHttps(limits, async (port, listener) => {
    const release = holdBodies();
    const accepted: { bytesRead: number }[] = [];
    listener.server.on("secureConnection", (socket) => accepted.push(socket));
    const c = open(port);
    await c.ready;
    c.socket.write(head("POST", `/held?max=${4 * MiB}`, { "content-length": 2 * MiB }));
    c.socket.write(Buffer.alloc(2 * MiB, 0x61));
    // Time for a server that reads what it is sent to read it all (over loopback, far less);
    // the bound below holds however long this lasts.
    await new Promise((r) => setTimeout(r, 1000));
    assert.is(accepted.length, 1);
    const read = accepted[0].bytesRead;
    assert.ok(read < 512 * 1024, `read ${read} bytes of a body nobody asked for`);
    release();
    const answer = await within(c.answer, 15_000, "answer");
    assert.equal(answer.body, { bytes: 2 * MiB }, "the body is read whole once asked for");
    assert.is(listener.guard.bufferedBytes, 0);
  });
});

test("a small unread body is dropped before the answer and the connection stays usable", async () => {
  await withHttps(SMALL, async (port) => {
    const c = open(port);
    await c.ready;
    c.socket.write(head("POST", "/refuse", { "content-length": 500 }) + "y".repeat(500));
    assert.is((await within(c.answer, 5000, "answer")).status, 403);
    const next = new Promise<string>((resolve) => {
      let text = "";
      c.socket.on("data", (d) => {
        text += d;
        if (text.includes('"bytes":3')) resolve(text);
      });
    });
    c.socket.write(head("POST", "/read", { "content-length": 3 }) + "abc");
    assert.match(await within(next, 5000, "second answer"), /HTTP\/1\.1 200/);
  });
});

test("a body declared larger than the endpoint reads is a 413, unread", async () => {
  await withHttps(SMALL, async (port, listener) => {
    const c = open(port);
    await c.ready;
    c.socket.write(head("POST", "/read?max=1000", { "content-length": 5000 }));
    const answer = await within(c.answer, 5000, "answer");
    assert.is(answer.status, 413);
    assert.equal(answer.body, {
      type: "error",
      status: "",
      status_code: 0,
      operation: "",
      error_code: 413,
      error: "Request body exceeds the 1000 bytes this endpoint accepts",
      metadata: null,
    });
    assert.is(listener.guard.bufferedBytes, 0);
  });
});

test("a chunked body that grows past the endpoint's limit is a 413 and closes", async () => {
  await withHttps(SMALL, async (port) => {
    const c = open(port);
    await c.ready;
    c.socket.write(head("POST", "/read?max=1000", { "transfer-encoding": "chunked" }));
    c.socket.write(`800\r\n${"z".repeat(0x800)}\r\n`);
    const answer = await within(c.answer, 5000, "answer");
    assert.is(answer.status, 413);
    await within(c.closed, 5000, "close");
  });
});

test("bodies in flight are bounded per address (429) and per listener (503)", async () => {
  await withHttps({ ...SMALL, bodyTimeoutMs: 10_000 }, async (port, listener) => {
    const send = async (from: string) => {
      const c = open(port, from);
      await c.ready;
      c.socket.write(head("POST", "/read?max=2000", { "content-length": 2000 }) + "a");
      return c;
    };
    const a = await send("127.0.0.1");
    await within(waitFor(() => listener.guard.bufferedBytes === 2000), 5000, "reservation");
    const b = await send("127.0.0.1");
    const answerB = await within(b.answer, 5000, "answer");
    assert.is(answerB.status, 429, "a second body from the same address is over its share");
    assert.match((answerB.body as any).error, /from this address/);
    const c = await send("127.0.0.2");
    await within(waitFor(() => listener.guard.bufferedBytes === 4000), 5000, "reservation");
    const d = await send("127.0.0.3");
    const answerD = await within(d.answer, 5000, "answer");
    assert.is(answerD.status, 503, "a third body is over the listener's budget");
    assert.match((answerD.body as any).error, /^Server busy/);
    a.socket.write("b".repeat(1999));
    c.socket.write("c".repeat(1999));
    const answerA = await within(a.answer, 5000, "answer");
    assert.equal(answerA.body, { bytes: 2000 }, JSON.stringify(answerA));
    assert.equal((await within(c.answer, 5000, "answer")).body, { bytes: 2000 });
    assert.is(listener.guard.bufferedBytes, 0, "every reservation was given back");
  });
});

test("a body that does not arrive in time is a 408 and the connection closes", async () => {
  await withHttps(SMALL, async (port, listener) => {
    const c = open(port);
    await c.ready;
    c.socket.write(head("POST", "/read?max=1000", { "content-length": 100 }) + "0123456789");
    const answer = await within(c.answer, 5000, "answer");
    assert.is(answer.status, 408);
    assert.match((answer.body as any).error, /^Request body not received within 0\.4 s/);
    await within(c.closed, 5000, "close");
    assert.is(listener.guard.bufferedBytes, 0);
  });
});

test("a head that does not arrive in time is a 408 envelope and the connection closes", async () => {
  await withHttps(SMALL, async (port) => {
    const c = open(port);
    await c.ready;
    c.socket.write("GET /refuse HTTP/1.1\r\nhost: coh");
    const answer = await within(c.answer, 5000, "answer");
    assert.is(answer.status, 408);
    assert.match((answer.body as any).error, /^Request headers not received within 0\.4 s/);
    await within(c.closed, 5000, "close");
  });
});

test("an idle connection is closed without a 408 once the head timeout passes", async () => {
  await withHttps(SMALL, async (port) => {
    const fresh = open(port);
    await fresh.ready;
    const quiet = await within(fresh.answer, 5000, "close");
    assert.equal(quiet, { status: 0, body: "", closed: true }, "nothing was sent to it");
    const kept = open(port);
    await kept.ready;
    kept.socket.write(head("GET", "/refuse"));
    assert.is((await within(kept.answer, 5000, "answer")).status, 403);
    await within(kept.closed, 5000, "close of the idle keep-alive connection");
  });
});

test("an upgraded connection outlives the head timeout; an upgrade nobody takes is a request", async () => {
  await withHttps(SMALL, async (port, listener) => {
    // Without an upgrade listener node treats an upgrade request as a request.
    const plain = open(port);
    await plain.ready;
    plain.socket.write(head("GET", "/refuse", { connection: "upgrade", upgrade: "websocket" }));
    assert.is((await within(plain.answer, 5000, "answer")).status, 403);
    // With one, the connection leaves HTTP and no head deadline applies any more.
    listener.server.on("upgrade", (_req, socket) => {
      socket.write("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n\r\n");
    });
    const upgraded = open(port);
    await upgraded.ready;
    upgraded.socket.write(head("GET", "/ws", { connection: "upgrade", upgrade: "websocket" }));
    assert.is((await within(upgraded.answer, 5000, "answer")).status, 101);
    await new Promise((r) => setTimeout(r, 1000)); // over twice the 400 ms head timeout
    assert.not.ok(upgraded.socket.destroyed, "the upgraded connection is still open");
  });
});

test("connections beyond the per-address cap get 429; beyond twice it they are closed", async () => {
  await withHttps({ ...SMALL, headersTimeoutMs: 10_000 }, async (port, listener) => {
    // A connection node:tls took up and that was then closed under it is a TLS client error.
    let tlsErrors = 0;
    listener.server.on("tlsClientError", () => tlsErrors++);
    const conns = Array.from({ length: 8 }, () => open(port, "127.0.0.5"));
    const handshakes = await Promise.allSettled(conns.map((c) => c.ready));
    const established = conns.filter((_, i) => handshakes[i].status === "fulfilled");
    assert.is(established.length, 6, "twice the cap get through the handshake");
    assert.is(tlsErrors, 0, "the two beyond were closed before node:tls set up their TLS state");
    for (const c of established) c.socket.write(head("GET", "/refuse"));
    const statuses = (await Promise.all(established.map((c) => within(c.answer, 5000, "answer"))))
      .map((a) => a.status).sort();
    assert.equal(statuses, [403, 403, 403, 429, 429, 429]);
    const other = open(port, "127.0.0.6");
    await other.ready;
    other.socket.write(head("GET", "/refuse"));
    assert.is((await within(other.answer, 5000, "answer")).status, 403, "other peers are served");
  });
});

test("connections beyond the listener's cap get 503", async () => {
  await withHttps({ ...SMALL, headersTimeoutMs: 10_000 }, async (port) => {
    const conns = Array.from({ length: 8 }, (_, i) => open(port, `127.0.1.${i + 1}`));
    for (const c of conns) await c.ready;
    for (const c of conns) c.socket.write(head("GET", "/refuse"));
    const answers = await Promise.all(conns.map((c) => within(c.answer, 5000, "answer")));
    assert.equal(answers.map((a) => a.status).sort(), [403, 403, 403, 403, 403, 403, 503, 503]);
    const busy = answers.find((a) => a.status === 503)!;
    assert.match((busy.body as any).error, /^Server busy: too many connections/);
  });
});

test("TRACE is a 405 that reaches no handler and logs no error; garbage a 400 envelope", async () => {
  const { logger, lines } = memoryLogger();
  await withHttps(SMALL, async (port) => {
    for (const body of [false, true]) {
      const c = open(port);
      await c.ready;
      c.socket.write(
        head("TRACE", "/refuse", body ? { "content-length": 4 } : {}) + (body ? "abcd" : ""),
      );
      const answer = await within(c.answer, 5000, "answer");
      assert.is(answer.status, 405);
      assert.is((answer.body as any).error, "Method TRACE is not allowed");
    }
    const bad = open(port);
    await bad.ready;
    bad.socket.write("NOT HTTP AT ALL\r\n\r\n");
    const answer = await within(bad.answer, 5000, "answer");
    assert.is(answer.status, 400);
    assert.is((answer.body as any).error, "Malformed HTTP request");
  }, logger);
  assert.equal(lines.filter((l) => Number(l.level) >= 50), [], "no error-level line");
});

test("a TLS handshake that outlasts its timeout is closed, never answered as a malformed request", async () => {
  await withHttps(SMALL, async (port) => {
    // A client whose first flight reaches the listener after the handshake timeout (0.4 s), as
    // on a slow link or a busy member: a proxy holds its bytes back for 1.2 s, then passes on.
    const proxy = createNetServer((client) => {
      const upstream = netConnect({ host: "127.0.0.1", port });
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
      upstream.pipe(client);
      client.pause();
      setTimeout(() => client.pipe(upstream), 1200);
      client.once("close", () => upstream.destroy());
      upstream.once("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const c = tlsConnection((proxy.address() as AddressInfo).port);
      opened.push(c);
      c.ready.then(() => c.socket.write(head("GET", "/refuse")), () => {});
      const answer = await within(c.answer, 5000, "close");
      assert.is.not(answer.status, 400, `answered ${JSON.stringify(answer.body)}`);
      assert.equal(answer, { status: 0, body: "", closed: true });
    } finally {
      proxy.close();
    }
  });
});

test("the control socket applies the same rules", async () => {
  const { dir, cleanup } = await tempDir();
  const listener = await serveUnix({ path: join(dir, "s.sock"), handler, limits: SMALL });
  try {
    const c = unixConnection(listener.address);
    opened.push(c);
    await c.ready;
    c.socket.write(head("POST", "/read?max=1000", { "content-length": 5000 }));
    assert.is((await within(c.answer, 5000, "answer")).status, 413);
    const slow = unixConnection(listener.address);
    opened.push(slow);
    await slow.ready;
    slow.socket.write(head("POST", "/read", { "content-length": 10 }) + "12");
    assert.is((await within(slow.answer, 5000, "answer")).status, 408);
  } finally {
    await listener.close();
    await cleanup();
  }
});

test.run();
