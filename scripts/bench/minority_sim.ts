/**
 * How long each side of a 2 | 3 cut keeps listing a member of the other side alive, in the
 * simulation (`local` preset, five members, loopback latency), as the fault test
 * `replay_token_majority` meets it: the cluster formed by admissions as daemons are
 * (`tests/sim/cut.ts`), the cut `--settle` ms after the last admission (1.5–2.3 s in the fault
 * test). `--form join` forms it by push-pull joins instead (members nobody vouched for, so no
 * start grace), as an earlier measurement did.
 *
 * Prints, over `--seeds` seeds, the time from the cut until member 0 holds none of members 2–4
 * alive (what the fault test waits for), p50 / p90 / p95 / p99 / max, the share over 30 s (the
 * fault test's old wait) and the design's bound (`cutBound`); the same for member 3 about
 * members 0 and 1.
 *
 * Usage: `npx tsx scripts/bench/minority_sim.ts [--seeds 1000] [--settle 1500] [--form admit|join]`
 * (or `deno run -A`).
 */
import process from "node:process";
import { parseArgs } from "node:util";
import type { Gossip } from "../../gossip/api.ts";
import { PRESETS } from "../../gossip/config.ts";
import { createSimCluster, simAddress, type SimCluster } from "../../gossip/sim.ts";
import { cutBound, formByAdmission, noneAlive } from "../../tests/sim/cut.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seeds: { type: "string", default: "1000" },
    settle: { type: "string", default: "1500" },
    form: { type: "string", default: "admit" },
  },
});
const seeds = Number(values.seeds);
const settle = Number(values.settle);
const form = values.form;
if (!Number.isSafeInteger(seeds) || seeds < 1 || !(settle >= 0)) {
  console.error("--seeds: a positive integer; --settle: ms ≥ 0");
  process.exit(2);
}
if (form !== "admit" && form !== "join") {
  console.error("--form: admit or join");
  process.exit(2);
}

const SIZE = 5;
const LEFT = [0, 1];
const RIGHT = [2, 3, 4];
const bounds = [cutBound(PRESETS.local, SIZE, 2), cutBound(PRESETS.local, SIZE, 3)];

const left: number[] = [];
const right: number[] = [];
const started = performance.now();
for (let seed = 1; seed <= seeds; seed++) {
  let members: Gossip[];
  let stop: () => void;
  let sim: SimCluster;
  if (form === "admit") {
    const c = formByAdmission(seed, SIZE);
    ({ sim, members } = c);
    stop = () => c.stop();
    sim.clock.advance(Math.max(0, c.admittedAt + settle - sim.clock.now()));
  } else {
    sim = createSimCluster({
      size: SIZE,
      seed,
      preset: "local",
      network: { latencyMs: 0.25, jitterMs: 0.25 },
    });
    members = sim.members;
    stop = () => sim.stop();
    sim.clock.advance(settle);
  }
  const clock = sim.clock;
  sim.net.partition(LEFT.map(simAddress), RIGHT.map(simAddress));
  const cut = clock.now();
  let l = -1;
  let r = -1;
  clock.runWhileNot(
    () => {
      const t = clock.now() - cut;
      if (l < 0 && noneAlive(members[0], RIGHT)) l = t;
      if (r < 0 && noneAlive(members[3], LEFT)) r = t;
      return l >= 0 && r >= 0;
    },
    2 * bounds[0],
    50,
  );
  left.push(l < 0 ? Infinity : l);
  right.push(r < 0 ? Infinity : r);
  stop();
}

function summary(xs: number[], bound: number): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const f = (ms: number) => (ms === Infinity ? "never" : (ms / 1000).toFixed(1));
  const over = s.filter((x) => x > 30_000).length;
  return `p50 ${f(q(0.5))} p90 ${f(q(0.9))} p95 ${f(q(0.95))} p99 ${f(q(0.99))} max ${
    f(s[s.length - 1])
  } s; over 30 s: ${over}/${s.length}; bound ${f(bound)} s`;
}
console.log(`form ${form}, cut ${settle} ms after formation, ${seeds} seeds, local, 2 | 3`);
console.log(`m0 lists none of m2-m4 alive: ${summary(left, bounds[0])}`);
console.log(`m3 lists neither m0 nor m1 alive: ${summary(right, bounds[1])}`);
console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s wall)`);
