/**
 * The observed transport (what a daemon with metrics runs: every frame counted) is a transport
 * like the one it wraps: the shared contract over the in-memory network and over the WebSocket
 * transport, each wrapped as `createGossipMember` wraps it. Among the contract's cases: the
 * receiver is told who sent a frame, as the transport below authenticated it. Before this file,
 * the wrapper dropped that identity, and a daemon with metrics on (the default) took every
 * gossip frame as unauthenticated.
 */
import { Registry } from "prom-client";
import { observeTransport } from "../../gossip/observed_transport.ts";
import { GossipMetrics } from "../../lib/metrics/gossip_metrics.ts";
import { runTransportContract } from "./transport_contract.ts";
import { wsPair } from "./ws_helpers.ts";
import { memoryPair } from "./memory_pair.ts";

const observed = <T extends Parameters<typeof observeTransport>[0]>(t: T) =>
  observeTransport(t, new GossipMetrics(new Registry()));

runTransportContract(
  "observed memory (json frames)",
  () => memoryPair({ frames: "json", seed: 3 }, observed),
);

runTransportContract("observed websocket (mTLS on 127.0.0.1)", () => wsPair(observed));
