/**
 * A pinned TLS handshake whose server answered in time while the client's event loop was held
 * (a CLI or a member stopped and continued, a VM paused, swapping, a long task) completes, not
 * "TLS handshake timed out": a held loop runs its expired timers before it reads the sockets
 * again, and the handshake deadline then must look once more (`lib/net/late_deadline.ts`).
 * Played in one process: a relay between the two passes the server's first answer on to the
 * client and holds the loop past the deadline in that I/O callback. The same holds for a whole
 * request pinned by fingerprint alone (no `peerCert`: the path a joiner and a forwarded request
 * take), held when its TCP connection was accepted or when its answer was written.
 */
import { connect, createServer as createNetServer, type Socket } from "node:net";
import { createServer } from "node:tls";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { requestJson } from "../../lib/net/client.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { keyPair } from "./_helpers.ts";

const test = suite("a pinned handshake answered while the client's loop was held");

const TIMEOUT_MS = 200;

test("completes", async () => {
  const pair = await keyPair("alpha");
  let held = false;
  const server = createServer({ cert: pair.cert, key: pair.key }, (s) => s.on("error", () => {}));
  server.on("tlsClientError", () => {});
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const relay = createNetServer((down) => {
    const up = connect((server.address() as { port: number }).port, "127.0.0.1");
    for (const s of [up, down]) s.on("error", () => {});
    down.on("data", (d) => up.write(d));
    up.on("data", (d) => {
      down.write(d);
      if (held) return;
      held = true;
      const until = performance.now() + 3 * TIMEOUT_MS;
      while (performance.now() < until) { /* the loop is held */ }
    });
    down.on("close", () => up.destroy());
    up.on("close", () => down.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  const port = (relay.address() as { port: number }).port;
  try {
    const tls = pinnedTlsOptions({ fingerprint: pair.fingerprint, handshakeTimeoutMs: TIMEOUT_MS });
    const create = tls.createConnection as unknown as (
      opts: { host: string; port: number; servername: string },
      done: (err: Error | null, socket?: Socket) => void,
    ) => void;
    const outcome = await new Promise<string>((done) => {
      create(
        { host: "127.0.0.1", port, servername: "alpha" },
        (err: Error | null, socket?: Socket) => {
          socket?.destroy();
          done(err ? err.message : "connected");
        },
      );
    });
    assert.ok(held, "the loop was held in the handshake");
    assert.is(outcome, "connected");
  } finally {
    await new Promise((r) => relay.close(r));
    await new Promise((r) => server.close(r));
  }
});

const ANSWER = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n" +
  'Connection: close\r\n\r\n{"ok":true}';

/**
 * A request pinned by fingerprint alone (a joiner holding a token, a forwarded request), its
 * handshake and its exchange each given `TIMEOUT_MS`, to a TLS server that holds the loop 3x
 * past them at `stage`: right after accepting the TCP connection (the client's connect
 * completes meanwhile), or right after writing the HTTP answer.
 */
for (const stage of ["connect", "answer"] as const) {
  test(`a request pinned by fingerprint alone is answered when held at the ${stage}`, async () => {
    const pair = await keyPair("alpha");
    let held = false;
    const hold = () => {
      held = true;
      const until = performance.now() + 3 * TIMEOUT_MS;
      while (performance.now() < until) { /* the loop is held */ }
    };
    const server = createServer({ cert: pair.cert, key: pair.key }, (socket) => {
      socket.on("error", () => {});
      socket.once("data", () => {
        socket.end(ANSWER);
        if (stage === "answer") hold();
      });
    });
    server.on("tlsClientError", () => {});
    server.on("connection", () => {
      if (stage === "connect") hold();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const answer = await requestJson({
        method: "GET",
        url: `https://127.0.0.1:${(server.address() as { port: number }).port}/x`,
        tls: pinnedTlsOptions({ fingerprint: pair.fingerprint, handshakeTimeoutMs: TIMEOUT_MS }),
        timeoutMs: TIMEOUT_MS,
      }).catch((err: Error) => err.message);
      assert.ok(held, "the loop was held");
      assert.equal(answer, { status: 200, body: { ok: true } });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
}

test.run();
