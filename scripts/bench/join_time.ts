/**
 * Benchmark: time from `cohort init NAME ADDR --token T` to the new member being `ONLINE` on
 * every member, while a loopback cluster grows to N members (default 10) one join at a time.
 * Every member is polled over its control socket (`GET /core/1.0/cluster`) every few ms from the
 * moment the command starts. Joins alternate between running `cohort init` (what a user waits
 * for, the CLI process start-up included) and sending its request, `POST /core/control`, on the
 * control socket directly (the cluster's own part). One table, p50 and max over the joins
 * (target: under 1 s), and what the claim round that keeps a token single-use across members took
 * of each admission (from the admitting member's log).
 *
 * Usage: `npm run build && tsx scripts/bench/join_time.ts [--members 10]`
 * (daemons run under the runtime that runs this script).
 */
import process from "node:process";
import { isDeno } from "../../lib/runtime.ts";
import { parseArgs } from "node:util";
import { availableParallelism } from "node:os";
import {
  api,
  bootstrap,
  issueToken,
  join_,
  type Member,
  members,
  startMembers,
  stopMembers,
} from "../../tests/helpers/cluster.ts";

const { values } = parseArgs({
  options: { members: { type: "string", default: "10" } },
});
const COUNT = Number(values.members);
if (!Number.isInteger(COUNT) || COUNT < 2) throw new Error("--members must be at least 2");
const POLL_MS = 20;

/** Resolves with the time at which `name` is ONLINE on every member of `on`. */
async function onlineEverywhere(on: Member[], name: string): Promise<number> {
  const seen = await Promise.all(on.map(async (m) => {
    while (true) {
      try {
        const list = await members(m);
        if (list.find((e) => e.name === name)?.status === "ONLINE") return performance.now();
      } catch { /* not initialised yet (the joiner itself): ask again */ }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }));
  return Math.max(...seen);
}

function stats(values: number[]): { p50: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: sorted[Math.floor((sorted.length - 1) / 2)], max: sorted[sorted.length - 1] };
}

const all = await startMembers(Array.from({ length: COUNT }, (_, i) => `bench${i + 1}`));
try {
  const [first, ...rest] = all;
  await bootstrap(first);
  const viaCli: number[] = [];
  const viaSocket: number[] = [];
  const joined = [first];
  for (const [i, m] of rest.entries()) {
    const token = await issueToken(first, m.name);
    // Alternate: the CLI (process start-up included) and the CLI's own request over the socket.
    const cli = i % 2 === 0;
    const started = performance.now();
    const watch = onlineEverywhere([...joined, m], m.name);
    if (cli) {
      const r = await join_(m, token);
      if (r.code !== 0) throw new Error(`join ${m.name}: ${r.stderr}`);
    } else {
      const r = await api(m, "POST", "/core/control", {
        bootstrap: false,
        name: m.name,
        address: m.address,
        join_token: token,
      });
      if (r.status !== 200) throw new Error(`join ${m.name}: ${r.body?.error}`);
    }
    const answered = performance.now();
    const online = await watch;
    joined.push(m);
    (cli ? viaCli : viaSocket).push(online - started);
    if (process.env.BENCH_VERBOSE) {
      console.error(
        `${m.name} (${cli ? "cli" : "socket"}): answered after ${
          (answered - started).toFixed(0)
        } ms, ` +
          `ONLINE everywhere after ${(online - started).toFixed(0)} ms`,
      );
    }
  }
  const ms = (v: number) => `${v.toFixed(0)} ms`.padStart(9);
  const row = (label: string, v: number[]) => {
    const { p50, max } = stats(v);
    console.log(`${label.padEnd(58)}${String(v.length).padStart(4)}${ms(p50)}${ms(max)}`);
  };
  console.log(
    `join time to ONLINE on every member, ${COUNT}-member loopback cluster ` +
      `(${isDeno ? "deno" : "node"}, gossip preset local, ${availableParallelism()} CPUs)`,
  );
  console.log(`${"from".padEnd(58)}${"n".padStart(4)}${"p50".padStart(9)}${"max".padStart(9)}`);
  row("`cohort init NAME ADDR --token T` spawned (CLI start-up in)", viaCli);
  row("its request, POST /core/control on the control socket", viaSocket);
  row("either", [...viaCli, ...viaSocket]);
  // The admitting member logs what its claim round (the token's single use confirmed by a
  // majority of the members, see lib/daemon/flows/confirm_use.ts) took of each admission.
  const rounds = all.flatMap((m) => m.daemon?.logs().split("\n") ?? [])
    .filter((l) => l.includes('"Admitted a new member"'))
    .map((l) => (JSON.parse(l) as { confirm_ms?: number }).confirm_ms)
    .filter((v): v is number => typeof v === "number");
  if (rounds.length) row("of which the single-use claim round at the admitting member", rounds);
} finally {
  await stopMembers(all);
}
