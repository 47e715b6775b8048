/**
 * The outbound gossip dial's deadline (`connectTimeoutMs`: TCP, TLS and the WebSocket upgrade)
 * as a member meets it, dialling with the cluster certificate pinned as a daemon does:
 * - a listener whose answer (the HTTP 101) arrived while the dialler's event loop was held (a
 *   member stopped and continued, a VM paused, swapping, a long task) is taken: a held loop runs
 *   its expired timers before it reads the sockets again, and the deadline then must look once
 *   more (`lib/net/late_deadline.ts`), or the dial is aborted, its frames dropped, and the peer
 *   dialled again (a probe missed, perhaps a false suspicion). Played in one process: the
 *   listener writes its 101, then holds the loop past the deadline inside that I/O callback;
 * - a listener that never answers the upgrade, or answers it a byte at a time without end, is
 *   cut: the deadline bounds the whole dial, not the silence between two bytes.
 */
import type { Duplex } from "node:stream";
import { createServer, type Server, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { keyPair } from "../net/_helpers.ts";
import { clusterPair, logged, startMember, waitFor, type WsMember } from "./ws_helpers.ts";

const test = suite("the outbound gossip dial's deadline");

const CONNECT_MS = 200;

/** Two members trusting each other; alpha dials with `CONNECT_MS` and the cluster cert pinned. */
async function pair(): Promise<[WsMember, WsMember]> {
  const trust = new Set<string>();
  for (const name of ["alpha", "beta"]) trust.add((await keyPair(name)).fingerprint);
  const serverCert = (await clusterPair()).cert;
  const a = await startMember("alpha", trust, { connectTimeoutMs: CONNECT_MS, serverCert });
  const b = await startMember("beta", trust, { connectTimeoutMs: CONNECT_MS, serverCert });
  return [a, b];
}

test("a listener that answered while the dialler's loop was held is taken", async () => {
  const [a, b] = await pair();
  try {
    let held = false;
    // After the transport's own listener: ws has written its 101 to the socket.
    b.listener.server.on("upgrade", (_req: unknown, _socket: Duplex) => {
      if (held) return;
      held = true;
      const until = performance.now() + 4 * CONNECT_MS;
      while (performance.now() < until) { /* the loop is held */ }
    });
    const failed = () => logged(a, /Gossip (connection failed|dial timed out)/);
    a.transport.send(b.listener.address, "one");
    await waitFor(
      () => b.inbox.length === 1 || failed().length > 0,
      "the frame, or the dial failed",
      10_000,
    );
    assert.ok(held, "the loop was held in the upgrade");
    assert.equal(failed().map((l) => JSON.stringify(l)), []);
    assert.equal(b.inbox.map((m) => m.frame), ["one"]);
    assert.is(a.transport.stats().dialled, 1);
    assert.is(a.transport.stats().dropped, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

/**
 * A listener serving the cluster certificate that completes TLS, then `answer`s each socket;
 * resolves with its address and a way to close it.
 */
async function listener(answer: (socket: TLSSocket) => void) {
  const cluster = await clusterPair();
  const sockets: TLSSocket[] = [];
  const server: Server = createServer({ cert: cluster.cert, key: cluster.key }, (socket) => {
    socket.on("error", () => {});
    sockets.push(socket);
    answer(socket);
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Alpha dials `answer`'s listener: the dial must end (no connection left) and stay silent. */
async function cutWhen(answer: (socket: TLSSocket) => void, extra?: () => void) {
  const [a, b] = await pair();
  const peer = await listener(answer);
  try {
    a.transport.send(peer.address, "one");
    await waitFor(() => peer.sockets.length === 1, "the TLS connection", 10_000);
    await waitFor(() => a.transport.stats().outbound === 0, "the dial cut", 10_000);
    extra?.();
    assert.is(logged(a, /Gossip dial timed out/).length, 1);
    assert.is(a.transport.stats().dropped, 1, "the queued frame dropped");
    assert.equal(a.refused, [], "a timeout is no refusal");
  } finally {
    await peer.close();
    await Promise.all([a.close(), b.close()]);
  }
}

test("a listener that never answers the upgrade is cut", async () => {
  await cutWhen((socket) => socket.on("data", () => {}));
});

test("a listener that answers a byte at a time without end is cut", async () => {
  const timers: ReturnType<typeof setInterval>[] = [];
  const head = "HTTP/1.1 101 Switching Protocols\r\nX-Slow: ";
  await cutWhen((socket) => {
    socket.on("data", () => {});
    let i = 0;
    // Every byte well within the deadline: a silence-based deadline never fires.
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write(i < head.length ? head[i++] : "x");
    }, CONNECT_MS / 4);
    timers.push(timer);
    socket.on("close", () => clearInterval(timer));
  }, () => timers.forEach(clearInterval));
});

test.run();
