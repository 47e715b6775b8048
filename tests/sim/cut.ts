/**
 * A network cut through a small cluster formed as daemons form one, and the longest the design
 * lets a member keep listing a member of the other side alive. Shared by the cut simulation test
 * (`cut.test.ts`), the fault test that meets it between real processes
 * (`tests/faults/replay_token_majority.fault.ts`) and `scripts/bench/minority_sim.ts`.
 *
 * @module
 */
import type { Gossip } from "../../gossip/api.ts";
import type { GossipConfig } from "../../gossip/config.ts";
import { suspicionTimeout } from "../../gossip/config.ts";
import { createGossip } from "../../gossip/engine.ts";
import { createRandom } from "../../gossip/random.ts";
import { createSimCluster, simAddress, type SimCluster } from "../../gossip/sim.ts";
import { simTrust } from "../../gossip/sim_trust.ts";
import { silentLogger } from "../../lib/log.ts";

/** A cluster formed by admissions: the simulated network and clock, and the members by index. */
export interface AdmittedCluster {
  readonly sim: SimCluster;
  /** Member `i` is named `m<i>` and listens at `simAddress(i)`. */
  readonly members: Gossip[];
  /** Clock ms of the last admission. */
  readonly admittedAt: number;
  stop(): void;
}

/**
 * Forms `size` members (`local` preset, loopback latency) as `init --token` forms daemons:
 * member 0 alone, then each other member admitted by it (`Gossip.admit`: announced vouched for
 * by member 0, which starts every other member's start grace, see `gossip/probe.ts`) and
 * started 20 ms later from member 0's state. Returns once every member holds every other alive.
 */
export function formByAdmission(seed: number, size: number): AdmittedCluster {
  const sim = createSimCluster({
    size: 1,
    seed,
    preset: "local",
    network: { latencyMs: 0.25, jitterMs: 0.25 },
  });
  const members: Gossip[] = [sim.members[0]];
  let admittedAt = 0;
  for (let i = 1; i < size; i++) {
    const name = `m${i}`;
    const address = simAddress(i);
    sim.members[0].admit(name, { address });
    admittedAt = sim.clock.now();
    const state = sim.members[0].exportState();
    sim.clock.advance(20);
    const g = createGossip(
      {
        clock: sim.clock,
        random: createRandom(seed * 7919 + i * 104729),
        logger: silentLogger,
        transport: sim.net.endpoint(address, name),
        trust: simTrust(),
      },
      { name, preset: "local", meta: { address }, state },
    );
    g.start();
    members.push(g);
  }
  const formed = sim.clock.runWhileNot(
    () =>
      members.every((g, i) => members.every((_, j) => j === i || g.stateOf(`m${j}`) === "alive")),
    30_000,
    10,
  );
  if (formed < 0) throw new Error(`seed ${seed}: ${size} admitted members did not converge`);
  return {
    sim,
    members,
    admittedAt,
    stop() {
      for (const g of members) g.stop();
    },
  };
}

/** Whether `g` holds none of the members at `indices` alive (suspect, dead or unknown). */
export function noneAlive(g: Gossip, indices: readonly number[]): boolean {
  return indices.every((i) => g.stateOf(`m${i}`) !== "alive");
}

/**
 * The longest, in ms after a cut, that a member on a side of `side` members (itself included)
 * of an `n`-member cluster, cut from the other `n − side`, may list one of them alive, by the
 * design, counting its own probes only (a verdict gossiped by its side may never reach it:
 * each update goes out `retransmitMult × ⌈log10(n + 1)⌉` times, 2 with `local` at n = 5, to
 * random members most of whom are across the cut). No refusals (a cut drops packets); the
 * members of its own side answer.
 *
 * - A probe lasts its probe interval scaled by local health (Lifeguard): at most
 *   `L = probeIntervalMs × awarenessMaxMultiplier` (8 s with `local`). Every probe across the
 *   cut fails, and one whose relay is across it too (no nack) raises local health.
 * - From any moment, the probes until every member across the cut is suspected number at most
 *   `P = 2·side + 3·other − 2`: the probe under way (of a member across the cut, answered just
 *   before the cut); the rest of its round, in which each member across the cut but that one is
 *   probed at most twice in a row (a failure without a relay's nack is probed again before a
 *   suspicion) and each of its own side once; then the next round, in which the suspected ones
 *   are probed once each, its own side once, and that one last, twice. (5 members cut 2 | 3:
 *   11 probes.)
 * - A member admitted less than the start grace ago (`suspicionMaxTimeoutMult` × the shortest
 *   suspicion timeout: 18 s with `local` at n = 5) is probed up to three times in a row, and one
 *   never heard from is not suspected at all within it. The cut in the fault test comes about 2 s
 *   after the last admission, so the grace runs over the first probes after it. The grace
 *   decides only at the end of a probe within it, and from the last such end (at most the grace
 *   after the cut) at most `P` probes remain: `grace + P × L`.
 * - A member across the cut may come back alive here once after it was suspected: when another
 *   member of this side holds it `alive` at a higher incarnation (an `alive` heard before the
 *   cut that missed this member: each goes out twice) and hands it on (gossip, push-pull). Seen
 *   once in 88 real runs, on u1. That other member holds the highest incarnation there is on
 *   this side, so it is never revived itself and suspects the member within `grace + P × L`;
 *   the revival comes before, and at most `P` probes follow it.
 *
 * Hence `grace + 2 × P × L`: 18 + 2 × 11 × 8 = 194 s for 5 members cut 2 | 3 with `local` (the
 * side of three: 18 + 2 × 10 × 8 = 178 s). The usual case is far shorter (simulated: half the
 * cuts in 19 s; real: 16 s): a minority whose relays are across the cut doubts itself, as
 * Lifeguard means it to, and the bound covers the worst draws of every random choice.
 */
export function cutBound(config: GossipConfig, n: number, side: number): number {
  const other = n - side;
  const grace = config.suspicionMaxTimeoutMult *
    suspicionTimeout(config.suspicionMult, n, config.probeIntervalMs);
  const longest = config.probeIntervalMs * config.awarenessMaxMultiplier;
  return grace + 2 * (2 * side + 3 * other - 2) * longest;
}
