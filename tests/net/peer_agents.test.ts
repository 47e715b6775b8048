/**
 * Kept connections between members (lib/net/peer_agents.ts, through the HTTPS PeerTransport):
 * requests naming them and the peer's certificate reuse one connection per peer (the TLS
 * handshakes counted at the peers: issue 15 counted one per claim, about 50 per join at
 * N = 100), the connections to a peer that left end, closing ends them all, a peer that
 * presents another certificate is refused before anything is sent, and a request that went out
 * on a kept connection as the peer closed it is sent again on a new one.
 */
import { once } from "node:events";
import type { Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { ForbiddenError } from "../../lib/errors.ts";
import { httpsPeers, type PeerConnections, type PeerRequest } from "../../lib/daemon/peers.ts";
import { PeerAgents } from "../../lib/net/peer_agents.ts";
import { type Listener, serveHttps } from "../../lib/net/serve.ts";
import { keyPair } from "./_helpers.ts";

interface Peer {
  listener: Listener;
  address: string;
  /** TLS handshakes the peer completed. */
  handshakes: number;
  /** Requests its handler saw. */
  requests: number;
  /** Its open TLS connections. */
  open: Set<Socket>;
}

const test = suite("kept connections to members");
const peers: Peer[] = [];
test.after.each(async () => {
  await Promise.all(peers.splice(0).map((p) => p.listener.close()));
});

async function peer(cert: "cluster" | "other", port = 0): Promise<Peer> {
  const pair = await keyPair(cert);
  const p = { handshakes: 0, requests: 0, open: new Set<Socket>() } as Peer;
  p.listener = await serveHttps({
    host: "127.0.0.1",
    port,
    cert: pair.cert,
    key: pair.key,
    handler: () => {
      p.requests++;
      return Promise.resolve(Response.json({ type: "sync", metadata: null }));
    },
  });
  p.address = `127.0.0.1:${p.listener.port}`;
  p.listener.server.on("secureConnection", (s: Socket) => {
    p.handshakes++;
    p.open.add(s);
    s.once("close", () => p.open.delete(s));
  });
  peers.push(p);
  return p;
}

async function ask(to: Peer, connections?: PeerConnections): Promise<number> {
  const cluster = await keyPair("cluster");
  const member = await keyPair("member");
  const request: PeerRequest = {
    address: to.address,
    method: "POST",
    path: "/core/internal/tokens/claim",
    body: { hash: "h" },
    fingerprint: cluster.fingerprint,
    identity: { cert: member.cert, key: member.key },
    timeoutMs: 10_000,
    ...(connections ? { peerCert: cluster.cert, connections } : {}),
  };
  return (await httpsPeers.request(request)).status;
}

test("five rounds to three peers: one handshake per peer with kept connections, one per request without", async () => {
  const three = [await peer("cluster"), await peer("cluster"), await peer("cluster")];
  const kept = httpsPeers.connections!();
  try {
    for (let round = 0; round < 5; round++) {
      const statuses = await Promise.all(three.map((p) => ask(p, kept)));
      assert.equal(statuses, [200, 200, 200]);
    }
    assert.equal(three.map((p) => p.handshakes), [1, 1, 1]);
    assert.equal(three.map((p) => p.requests), [5, 5, 5]);
  } finally {
    kept.close();
  }
  for (let round = 0; round < 5; round++) await Promise.all(three.map((p) => ask(p)));
  assert.equal(three.map((p) => p.handshakes), [6, 6, 6], "a fresh connection per request");
});

test("retain ends the connections to a peer that left, and keeps the others", async () => {
  const [stays, leaves] = [await peer("cluster"), await peer("cluster")];
  const kept = new PeerAgents();
  try {
    await Promise.all([ask(stays, kept), ask(leaves, kept)]);
    assert.is(kept.size, 2);
    const [gone] = [...leaves.open];
    assert.ok(gone, "the peer that leaves holds our connection");
    kept.retain([stays.address]);
    if (!gone.destroyed) await once(gone, "close");
    assert.is(leaves.open.size, 0, "its connection is closed");
    assert.is(kept.size, 1);
    assert.is(await ask(stays, kept), 200);
    assert.is(stays.handshakes, 1, "the other's connection was kept");
  } finally {
    kept.close();
  }
});

test("close ends every connection; a request after it opens one of its own and keeps nothing", async () => {
  const p = await peer("cluster");
  const kept = new PeerAgents();
  await ask(p, kept);
  const [open] = [...p.open];
  kept.close();
  if (!open.destroyed) await once(open, "close");
  assert.is(p.open.size, 0);
  assert.is(kept.size, 0);
  assert.is(await ask(p, kept), 200);
  assert.is(kept.size, 0, "nothing kept after close");
  assert.is(p.handshakes, 2);
});

test("a peer whose certificate changed is refused on a new connection, nothing sent", async () => {
  const first = await peer("cluster");
  const kept = new PeerAgents();
  try {
    assert.is(await ask(first, kept), 200);
    const port = first.listener.port;
    await first.listener.close();
    // Another certificate at the same address: the kept connection went with the old listener.
    const impostor = await peer("other", port);
    const err = await ask(impostor, kept).then(() => undefined, (e: unknown) => e);
    assert.instance(err, ForbiddenError, String(err));
    assert.is(impostor.requests, 0, "no request reached it");
  } finally {
    kept.close();
  }
});

test("a kept connection the peer closes as the next request goes out: that request is sent again on a new connection", async () => {
  const cluster = await keyPair("cluster");
  let connections = 0;
  let requests = 0;
  // Answers the first request of each connection, and closes it, unanswered, at the second
  // (what a listener whose idle limit came does to a request already on its way).
  const server = createTlsServer({ cert: cluster.cert, key: cluster.key }, (socket) => {
    connections++;
    let seen = 0;
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      const heads = d.toString("latin1").split("POST ").length - 1;
      if (!heads) return;
      seen += heads;
      if (seen > 1) return void socket.destroy();
      requests++;
      const body = '{"type":"sync","metadata":null}';
      socket.write(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" +
          `content-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`,
      );
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  const kept = new PeerAgents();
  try {
    const to = { address: `127.0.0.1:${port}` } as Peer;
    assert.is(await ask(to, kept), 200);
    assert.is(await ask(to, kept), 200, "the second request, sent again");
    assert.is(connections, 2);
    assert.is(requests, 2);
  } finally {
    kept.close();
    server.close();
  }
});

test.run();
