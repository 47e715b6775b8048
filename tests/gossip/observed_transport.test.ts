/**
 * The observed transport (what a daemon with metrics runs: every frame counted) is a transport
 * like the one it wraps: the shared contract over the in-memory network and over the WebSocket
 * transport, each wrapped as `createGossipMember` wraps it. Among the contract's cases: the
 * receiver is told who sent a frame, as the transport below authenticated it. Before this file,
 * the wrapper dropped that identity, and a daemon with metrics on (the default) took every
 * gossip frame as unauthenticated.
 */
import { Registry } from "prom-client";
import { MemoryNetwork } from "../../gossip/memory_transport.ts";
import { observeTransport } from "../../gossip/observed_transport.ts";
import { createRandom } from "../../gossip/random.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import { GossipMetrics } from "../../lib/metrics/gossip_metrics.ts";
import { runTransportContract } from "./transport_contract.ts";
import { wsPair } from "./ws_helpers.ts";

const observed = <T extends Parameters<typeof observeTransport>[0]>(t: T) =>
  observeTransport(t, new GossipMetrics(new Registry()));

runTransportContract("observed memory (json frames)", () => {
  const clock = new SimClock();
  const net = new MemoryNetwork({ clock, random: createRandom(3), latencyMs: 1, frames: "json" });
  const a = observed(net.endpoint("a:1", "member-a"));
  const b = observed(net.endpoint("b:1", "member-b"));
  return Promise.resolve({
    a,
    b,
    deadAddress: "nobody:1",
    aIdentity: "member-a",
    settle: () => Promise.resolve(clock.advance(50)),
    crashB: () => Promise.resolve(net.crash("b:1")),
    close: async () => {
      await a.close();
      await b.close();
    },
  });
});

runTransportContract("observed websocket (mTLS on 127.0.0.1)", () => wsPair(observed));
