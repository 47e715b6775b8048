/**
 * The shared transport contract against the WebSocket transport: two members with real mTLS
 * sockets on 127.0.0.1, a closed port as the dead address, and a settle that waits (in real
 * time) until the traffic in flight has arrived.
 */
import { once } from "node:events";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { keyPair } from "../net/_helpers.ts";
import { runTransportContract } from "./transport_contract.ts";
import { sleep, startMember } from "./ws_helpers.ts";
import type { WsMember } from "./ws_helpers.ts";

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Waits until every frame sent (and not dropped) between the two members has been received, or
 * until nothing moved for `quietMs` (frames to the dead address never arrive; a refusal comes
 * back within a round trip on loopback); at most `maxMs`.
 */
async function settle(a: WsMember, b: WsMember, quietMs = 250, maxMs = 5000): Promise<void> {
  const deadline = Date.now() + maxMs;
  const snapshot = () => {
    const [sa, sb] = [a.transport.stats(), b.transport.stats()];
    return [
      sa.framesSent,
      sa.framesReceived,
      sa.dropped,
      sa.refused,
      sb.framesSent,
      sb.framesReceived,
      sb.dropped,
      sb.refused,
    ].join();
  };
  let last = snapshot();
  let quietSince = Date.now();
  await sleep(10);
  while (Date.now() < deadline) {
    const [sa, sb] = [a.transport.stats(), b.transport.stats()];
    const balanced = sa.framesSent - sa.dropped === sb.framesReceived &&
      sb.framesSent - sb.dropped === sa.framesReceived;
    if (balanced && sa.framesSent + sb.framesSent > 0) return;
    const now = snapshot();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) return;
    await sleep(10);
  }
}

runTransportContract("websocket (mTLS on 127.0.0.1)", async () => {
  const trust = new Set<string>();
  for (const name of ["alpha", "beta"]) trust.add((await keyPair(name)).fingerprint);
  const a = await startMember("alpha", trust, { connectTimeoutMs: 2000 });
  const b = await startMember("beta", trust, { connectTimeoutMs: 2000 });
  return {
    a: a.transport,
    b: b.transport,
    deadAddress: `127.0.0.1:${await closedPort()}`,
    // The fingerprint of the client certificate alpha dials with.
    aIdentity: a.pair.fingerprint,
    settle: () => settle(a, b),
    crashB: () => b.close(),
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
});
