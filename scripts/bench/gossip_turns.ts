/**
 * What one turn of a member's event loop costs in the gossip engine while a cluster forms
 * (issue 15: "no work on a member's event loop may take longer than a small fraction of the
 * probe timeout, whatever N"). N members on cohort's roster trust (real ECDSA P-256 member
 * keys, as daemons use) join member 0 one batch at a time on the simulated clock; every timer
 * callback (a frame delivered, a probe round, a push-pull answer) is one turn, timed in CPU
 * time of this process (`process.cpuUsage`, so a loaded machine does not inflate it).
 * Prints, per N: the longest turn, turns over 5 ms, total engine CPU and simulated formation time.
 *
 * Usage: `npx tsx scripts/bench/gossip_turns.ts [--sizes 25,50,100]` or
 * `deno run -A scripts/bench/gossip_turns.ts` (signature checks cost ≈ 8× more under Deno).
 */
import process from "node:process";
import { createRosterCluster } from "../../tests/gossip/roster_fixture.ts";
import { SimClock } from "../../gossip/sim_clock.ts";

const sizesArg = process.argv.indexOf("--sizes");
const sizes = sizesArg > 0 ? process.argv[sizesArg + 1].split(",").map(Number) : [25, 50, 100];

// The cluster makes its clock inside createRosterCluster: time every clock's turns.
let longest = 0;
let over5 = 0;
let total = 0;
const around = (turn: () => void) => {
  const c0 = process.cpuUsage();
  turn();
  const d = process.cpuUsage(c0);
  const ms = (d.user + d.system) / 1000;
  total += ms;
  if (ms > longest) longest = ms;
  if (ms > 5) over5++;
};
const run = SimClock.prototype.runUntil;
SimClock.prototype.runUntil = function (this: SimClock, until: number) {
  this.around ??= around;
  return run.call(this, until);
};

console.log(`\nGossip engine turns while N members form (roster trust), ${runtime()}\n`);
console.log(
  "| N | longest turn ms (CPU) | turns > 5 ms | engine CPU s | formed after (simulated) s |",
);
console.log("|---|---|---|---|---|");
for (const n of sizes) {
  longest = over5 = total = 0;
  const c = await createRosterCluster(n, { seed: n });
  console.log(
    `| ${n} | ${longest.toFixed(1)} | ${over5} | ${(total / 1000).toFixed(2)} | ${
      (c.clock.now() / 1000).toFixed(1)
    } |`,
  );
  c.stop();
}

function runtime(): string {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return deno ? `Deno ${deno.version.deno}` : `Node ${process.version}`;
}
