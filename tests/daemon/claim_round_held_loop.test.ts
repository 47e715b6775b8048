/**
 * A token claim round whose grants arrived in time while the admitting member's event loop was
 * held (the member stopped with SIGSTOP and continued, its VM paused, swapping) admits the
 * joiner: a held loop runs its expired timers before it reads the sockets again, and the round's
 * bound (`CLAIM_ROUND_MS`) refused the join, naming the members that had granted as
 * unreachable, with their grants waiting unread. The round's timers run on the daemon's clock
 * (`monotonicClock`), whose timers look at the sockets once more when they run clearly late.
 *
 * Played in one process, on the daemon's real clock and HTTPS transport with kept connections,
 * as an admitting member runs a round: the other members are a TLS listener presenting the
 * cluster certificate; it writes its first grant, then holds the loop past the round's bound in
 * that I/O callback.
 */
import { createServer, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { monotonicClock } from "../../lib/cluster/monotonic_clock.ts";
import { Background } from "../../lib/daemon/background.ts";
import type { MemberContext } from "../../lib/daemon/context.ts";
import { CLAIM_PATH, CLAIM_ROUND_MS, confirmUse } from "../../lib/daemon/flows/confirm_use.ts";
import type { Network } from "../../lib/daemon/network.ts";
import { httpsPeers } from "../../lib/daemon/peers.ts";
import type { TokenClaim, TokenClaims } from "../../lib/daemon/token_claims.ts";
import { silentLogger } from "../../lib/log.ts";
import { holdLoopUntil } from "../helpers/held_loop.ts";
import { keyPair } from "../net/_helpers.ts";

const test = suite("a claim round whose grants arrived while the loop was held");

const GRANT = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

/**
 * The other members: a TLS listener with the cluster certificate granting every claim (and
 * release); `onGrant` runs right after a claim's grant is written, in that I/O callback.
 */
async function members(onGrant: () => void) {
  const cluster = await keyPair("cluster");
  const sockets = new Set<TLSSocket>();
  const paths: string[] = [];
  const server = createServer({ cert: cluster.cert, key: cluster.key }, (socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    let text = "";
    socket.on("data", (d) => {
      text += d;
      // One request at a time on a connection: its head, then a body of Content-Length bytes.
      while (true) {
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        if (text.length < end + 4 + length) return;
        paths.push(text.slice(0, end).split(" ")[1]);
        text = text.slice(end + 4 + length);
        socket.write(GRANT);
        if (paths.at(-1) === CLAIM_PATH) onGrant();
      }
    });
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

test("admits the joiner", async () => {
  const [cluster, own] = [await keyPair("cluster"), await keyPair("m1")];
  let started = 0;
  let held = false;
  const peers = await members(() => {
    if (held) return;
    held = true;
    // Past the round's bound by more than a held loop's margin (100 ms).
    holdLoopUntil(started + CLAIM_ROUND_MS + 1000);
  });
  // m1 admits; m2 and m3 are the listener. Two of three make a majority: m1's own claim and
  // the first grant.
  const roster = new Map(["m1", "m2", "m3"].map((name) => [name, { address: peers.address }]));
  const connections = httpsPeers.connections!();
  const background = new Background(monotonicClock, silentLogger);
  const net = {
    config: { name: "m1" },
    view: { roster: () => roster },
    gossip: { record: () => undefined, member: () => undefined },
    identity: { cert: own.cert, key: own.key, clusterCert: cluster.cert },
    connections,
  } as unknown as Network;
  const ctx = {
    env: { clock: monotonicClock, random: Math.random, peers: httpsPeers },
    logger: silentLogger,
    background,
  } as unknown as MemberContext;
  const claims = {
    hold: () => Promise.resolve(),
    release: () => Promise.resolve(),
  } as unknown as TokenClaims;
  const claim: TokenClaim = {
    hash: "a".repeat(64),
    name: "m4",
    address: "127.0.0.1:1",
    fingerprint: "b".repeat(64),
  };
  try {
    started = performance.now();
    const outcome = await confirmUse(ctx, net, claims, claim).then(
      () => "admitted",
      (err: Error) => err.message,
    );
    assert.ok(held, "the loop was held once a grant was written");
    assert.is(outcome, "admitted");
  } finally {
    background.stop();
    connections.close();
    await peers.close();
  }
});

test.run();
