/**
 * Benchmark: whether one `GET /core/1.0/cluster` costs more after an operator's history (issue
 * 15, "status at scale": a maintained view, not rebuilt per request). A soak saw the daemon's own
 * time per list grow 0.37 → 0.68 ms over an hour of churn; this replays such churn quickly and
 * reads the list's cost before and after.
 *
 * Whole members in one process on the simulated clock (`MemoryCluster`, `:memory:` stores): three
 * members formed, then `--cycles` rounds of churn on member 1, in `--steps` steps: a token added
 * and revoked, a member joined under a new name and removed (each removal leaves a roster
 * tombstone and a former certificate, each token a tombstone). After each step, `--requests`
 * answers through member 1's router (the routes, itty and the answer's bytes, as the control
 * socket serves them, without node:http) and the process's CPU per answer (`process.cpuUsage`,
 * user + system) beside what the history holds. The first step is the fresh cluster; on a busy
 * machine read the trend, not one figure.
 *
 * Usage: `npx tsx scripts/bench/list_history.ts [--cycles 100] [--steps 4] [--requests 3000]`
 * (Node) or `npx deno run -A scripts/bench/list_history.ts …`.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { MEMBER_RECORD, TOKEN_RECORD } from "../../lib/cluster/roster.ts";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { createRouter } from "../../routes/router.ts";
import { memberAddress, MemoryCluster, networkOf } from "../../tests/helpers/memory_member.ts";

const { values: opts } = parseArgs({
  options: {
    cycles: { type: "string", default: "100" },
    steps: { type: "string", default: "4" },
    requests: { type: "string", default: "3000" },
  },
});
const CYCLES = Math.max(1, Math.min(1000, Number(opts.cycles) || 100));
const STEPS = Math.max(1, Math.min(20, Number(opts.steps) || 4));
const REQUESTS = Math.max(100, Math.min(100_000, Number(opts.requests) || 3000));

const sim = new MemoryCluster(7);
const daemons = await sim.form(3);
await sim.run(3000);
const m1 = daemons[0];
const answer = createRouter(m1);

/** CPU per answer (ms) over {@link REQUESTS} answers, after 200 to warm up. */
async function perAnswer(): Promise<number> {
  const once = async () => {
    const r = await answer(new Request("http://member/core/1.0/cluster"), { transport: "unix" });
    if (r.status !== 200) throw new Error(`GET /core/1.0/cluster: ${r.status}`);
    await r.arrayBuffer();
  };
  for (let i = 0; i < 200; i++) await once();
  const c0 = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) await once();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / REQUESTS;
}

/** What member 1's history holds: records by kind (tombstones apart), former certificates. */
function history(d: Daemon) {
  const net = networkOf(d);
  const count = (kind: string) => {
    const all = net.gossip.records(kind);
    return `${all.length - all.filter((r) => r.value === null).length}+${
      all.filter((r) => r.value === null).length
    }†`;
  };
  return `roster ${count(MEMBER_RECORD)}, tokens ${
    count(TOKEN_RECORD)
  }, former certificates ${net.former.entries().length}`;
}

const rows: string[] = [];
const report = async (cycles: number) => {
  const a = await perAnswer();
  const b = await perAnswer();
  rows.push(
    `| ${cycles} | ${Math.min(a, b).toFixed(4)} (${Math.max(a, b).toFixed(4)}) | ${history(m1)} |`,
  );
  console.error(rows.at(-1));
};

await report(0);
let next = 4;
for (let step = 1; step <= STEPS; step++) {
  const until = Math.round(CYCLES * step / STEPS);
  for (let done = Math.round(CYCLES * (step - 1) / STEPS); done < until; done++) {
    await sim.drive(m1.createToken(`t${done}`, 0));
    await sim.drive(m1.revokeToken(`t${done}`));
    const name = `m${next}`;
    const d = await sim.start(name);
    const token = await sim.drive(m1.createToken(name, 0));
    await sim.drive(
      d.initialize({ bootstrap: false, name, address: memberAddress(next), join_token: token }),
    );
    await sim.run(500);
    await sim.drive(m1.removeMember(name, false));
    await sim.drive(d.stop());
    sim.daemons.delete(name);
    next++;
    await sim.run(500);
  }
  await sim.run(3000);
  await report(until);
}
await sim.stop();

console.log(
  `\nOne GET /core/1.0/cluster through member 1's router after churn (3 members; ` +
    `${REQUESTS} answers, twice per step; load ${
      (await import("node:os")).loadavg()[0].toFixed(1)
    })\n`,
);
console.log(
  "| churn cycles | CPU per answer, ms (the other run) | member 1 holds (live+tombstones†) |",
);
console.log("|---|---|---|");
for (const r of rows) console.log(r);
