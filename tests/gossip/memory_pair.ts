/**
 * Two endpoints of one in-memory network (`a:1` as `member-a`, `b:1` as `member-b`) as the shared
 * transport contract takes them, each optionally wrapped (e.g. by the metrics' observer).
 */
import { MemoryNetwork } from "../../gossip/memory_transport.ts";
import type { MemoryNetworkOptions } from "../../gossip/memory_transport.ts";
import type { Transport } from "../../lib/cluster/transport.ts";
import { createRandom } from "../../gossip/random.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import type { TransportPair } from "./transport_contract.ts";

/** The pair on a fresh network with 1 ms latency; `options` adds jitter, frames, a seed. */
export function memoryPair(
  options: Omit<Partial<MemoryNetworkOptions>, "clock" | "random"> & { seed?: number } = {},
  wrap: (t: Transport) => Transport = (t) => t,
): Promise<TransportPair> {
  const clock = new SimClock();
  const { seed = 1, ...rest } = options;
  const net = new MemoryNetwork({ clock, random: createRandom(seed), latencyMs: 1, ...rest });
  const a = wrap(net.endpoint("a:1", "member-a"));
  const b = wrap(net.endpoint("b:1", "member-b"));
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
}
