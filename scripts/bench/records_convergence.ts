/**
 * Benchmark: how long a replicated record (`member.records.put`) takes to reach every member.
 *
 * 1. **Simulation** (`gossip/sim.ts`, the `lan` preset, loopback-like latency 0.25 ms + up to
 *    0.25 ms jitter): N = 1000 members formed from restored state, idle 5 s, then a put on a
 *    random member per trial, through the real `AppRecords` API; the simulated time until 99 %
 *    and 100 % of the other members hold it, at 0 % and 10 % frame loss. Deterministic for the
 *    seed.
 * 2. **Loopback** (real processes): N = 10 `cohort daemon` members (the `local` preset) on
 *    127.0.0.1, a `PUT /core/1.0/records/{key}` on one member's control socket, and every member
 *    polled (`GET /core/1.0/records/{key}` on its control socket, every 5 ms) until it answers
 *    with that version; per run, the time until the last member has it. Median and spread over
 *    the runs. Wall-clock times on a shared machine: read them with its load (`uptime`).
 *
 * Usage: `npm run build && npx tsx scripts/bench/records_convergence.ts [--sim-only]
 * [--loopback-only] [--members 1000] [--trials 5] [--runs 10]`
 * (`deno run -A scripts/bench/records_convergence.ts …` runs the members under Deno).
 */
import { availableParallelism, loadavg } from "node:os";
import process from "node:process";
import { parseArgs } from "node:util";
import { createRandom } from "../../gossip/random.ts";
import { createSimCluster } from "../../gossip/sim.ts";
import { UnavailableError } from "../../lib/errors.ts";
import { silentLogger } from "../../lib/log.ts";
import { AppRecords } from "../../lib/records/records.ts";
import { isDeno } from "../../lib/runtime.ts";
import { api, formCluster, type Member, stopMembers } from "../../tests/helpers/cluster.ts";

const { values } = parseArgs({
  options: {
    "sim-only": { type: "boolean", default: false },
    "loopback-only": { type: "boolean", default: false },
    members: { type: "string", default: "1000" },
    trials: { type: "string", default: "5" },
    runs: { type: "string", default: "10" },
    "loopback-members": { type: "string", default: "10" },
  },
});
const SIM_N = Number(values.members);
const TRIALS = Number(values.trials);
const RUNS = Number(values.runs);
const LOOP_N = Number(values["loopback-members"]);

const pct = (v: number[], p: number) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const median = (v: number[]) => pct(v, 50);
const s = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(3) : "never");

/** Simulated ms until 99 % and 100 % of the other members hold each trial's put. */
function simulate(n: number, loss: number, trials: number, seed: number) {
  const c = createSimCluster({
    size: n,
    seed,
    form: "restore",
    network: { latencyMs: 0.25, jitterMs: 0.25, loss },
  });
  c.clock.advance(5000);
  const rnd = createRandom(seed * 31 + 7);
  const p99: number[] = [];
  const all: number[] = [];
  let key = "";
  let got = 0;
  let seen = new Uint8Array(n);
  const off = c.members.map((g, i) =>
    g.on("record-change", ({ record }) => {
      if (record.key === key && !seen[i]) {
        seen[i] = 1;
        got++;
      }
    })
  );
  for (let t = 0; t < trials; t++) {
    const origin = rnd.int(n);
    const g = c.members[origin];
    const records = new AppRecords({
      store: () => g,
      unavailable: () => new UnavailableError("stopped"),
      flush: () => Promise.resolve(),
      name: () => g.localName,
      logger: silentLogger,
    });
    key = `bench/${seed}/${t}`;
    seen = new Uint8Array(n);
    seen[origin] = 1;
    got = 0;
    const t0 = c.clock.now();
    void records.put(key, { trial: t, payload: "x".repeat(64) });
    const target99 = Math.ceil(0.99 * (n - 1));
    const a = c.clock.runWhileNot(() => got >= target99, 600_000, 1);
    p99.push(a < 0 ? Infinity : c.clock.now() - t0);
    const b = c.clock.runWhileNot(() => got >= n - 1, 600_000, 5);
    all.push(b < 0 ? Infinity : c.clock.now() - t0);
    c.clock.advance(2000);
  }
  off.forEach((f) => f());
  c.stop();
  return { p99, all };
}

async function loopback(n: number, runs: number) {
  const names = Array.from({ length: n }, (_, i) => `rec${i + 1}`);
  const list: Member[] = await formCluster(names);
  const last: number[] = [];
  const each: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const writer = list[r % n];
      const key = `bench/run-${r}`;
      const t0 = performance.now();
      const put = await api(writer, "PUT", `/core/1.0/records/${encodeURIComponent(key)}`, {
        value: { run: r },
      });
      if (put.status !== 200) throw new Error(`put: ${put.status} ${put.body?.error}`);
      const version = put.body.metadata.version;
      const times = await Promise.all(list.map(async (m) => {
        const until = performance.now() + 60_000;
        while (performance.now() < until) {
          const got = await api(m, "GET", `/core/1.0/records/${encodeURIComponent(key)}`);
          if (got.status === 200 && got.body.metadata.version === version) {
            return performance.now() - t0;
          }
          await new Promise((done) => setTimeout(done, 5));
        }
        return Infinity;
      }));
      each.push(...times.filter((_, i) => list[i] !== writer));
      last.push(Math.max(...times));
      await new Promise((done) => setTimeout(done, 300));
    }
  } finally {
    await stopMembers(list);
  }
  return { last, each };
}

const started = performance.now();
console.log(
  `replicated records convergence (${isDeno ? "deno" : "node"}, ${availableParallelism()} CPUs, ` +
    `load average ${loadavg().map((l) => l.toFixed(2)).join(" ")})`,
);
if (!values["loopback-only"]) {
  console.log(
    `\nsimulation: N = ${SIM_N}, preset lan, ${TRIALS} puts per row, simulated seconds`,
  );
  console.log(
    `${"loss".padEnd(6)}${"99 % p50".padStart(10)}${"99 % max".padStart(10)}` +
      `${"100 % p50".padStart(11)}${"100 % max".padStart(11)}`,
  );
  for (const loss of [0, 0.1]) {
    const r = simulate(SIM_N, loss, TRIALS, loss === 0 ? 101 : 102);
    console.log(
      `${(loss * 100).toFixed(0).padStart(3)} %${s(median(r.p99)).padStart(11)}` +
        `${s(Math.max(...r.p99)).padStart(10)}${s(median(r.all)).padStart(11)}` +
        `${s(Math.max(...r.all)).padStart(11)}`,
    );
  }
}
if (!values["sim-only"]) {
  console.log(
    `\nloopback: N = ${LOOP_N} real members (preset local), ${RUNS} puts, polled every 5 ms, ms`,
  );
  const r = await loopback(LOOP_N, RUNS);
  const ms = (v: number) => `${v.toFixed(0)}`.padStart(8);
  console.log(`${"until".padEnd(34)}${"min".padStart(8)}${"p50".padStart(8)}${"max".padStart(8)}`);
  console.log(
    `${"each other member has it".padEnd(34)}${ms(Math.min(...r.each))}${ms(median(r.each))}${
      ms(Math.max(...r.each))
    }`,
  );
  console.log(
    `${"every member has it".padEnd(34)}${ms(Math.min(...r.last))}${ms(median(r.last))}${
      ms(Math.max(...r.last))
    }`,
  );
}
console.log(
  `\nwall clock ${((performance.now() - started) / 1000).toFixed(1)} s, ` +
    `load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
);
process.exit(0);
