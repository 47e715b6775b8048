/**
 * Simulation benchmark (issue 15, kill -STOP at N=50): a member falsely suspected while the
 * cluster forms, stopped (`kill -STOP`: its traffic waits, nothing is refused) some time later.
 * How long until every other member holds it dead, and with which suspicion timeouts?
 *
 * Per seed: N members join member 0 (as `createSimCluster` forms them); the victim then stalls
 * `--stalls` times for `--stall-ms` each, `--gap-ms` apart (an event loop blocked while
 * joiners are admitted: its probers suspect it, and it refutes once it runs again); `--after`
 * seconds after the last stall it stops for good. Printed: the time from the stop until the
 * first suspicion and until every member holds it dead (median and range over the seeds), the
 * shortest suspicion timeout (`min_ms`) the members that declared it ran with, and any `dead`
 * verdict about a member other than the victim (false verdicts).
 *
 * Usage: `npx tsx scripts/bench/stop_after_refute.ts [--members 50] [--seeds 8] [--stalls 2]
 * [--stall-ms 2500] [--gap-ms 5000] [--after 40]` (`--stalls 0`: a plain stop, the reference)
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { createSimCluster } from "../../gossip/sim.ts";
import type { Fields, Logger } from "../../lib/log.ts";

const { values } = parseArgs({
  options: {
    members: { type: "string", default: "50" },
    seeds: { type: "string", default: "8" },
    "first-seed": { type: "string", default: "1" },
    stalls: { type: "string", default: "2" },
    "stall-ms": { type: "string", default: "2500" },
    "gap-ms": { type: "string", default: "5000" },
    after: { type: "string", default: "40" },
  },
});
const N = Number(values.members);
const SEEDS = Number(values.seeds);
const FIRST = Number(values["first-seed"]);
const STALLS = Number(values.stalls);
const STALL_MS = Number(values["stall-ms"]);
const GAP_MS = Number(values["gap-ms"]);
const AFTER_MS = Number(values.after) * 1000;
if (
  !(N >= 5) || !(SEEDS >= 1) || !(STALLS >= 0) || !(STALL_MS > 0) || !(GAP_MS >= 0) ||
  !(AFTER_MS >= 0)
) {
  console.error("Invalid options: see the usage in the file's header");
  process.exit(2);
}

/** Keeps the `min_ms` of every suspect-timeout verdict, by accused. */
class TimeoutLog implements Logger {
  readonly level = 30;
  constructor(readonly sink: { member: string; min: number }[]) {}
  debug(): void {}
  warn(): void {}
  error(): void {}
  info(msg: string, fields?: Fields): void {
    if (msg.startsWith("Suspect timeout reached")) {
      this.sink.push({ member: String(fields?.member), min: Number(fields?.min_ms) });
    }
  }
  child(): Logger {
    return this;
  }
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const range = (v: number[]) => `${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)}`;

const allDead: number[] = [];
const firstSuspect: number[] = [];
const minTimeouts: number[] = [];
let falseDead = 0;
let suspicionsBefore = 0;
for (let s = FIRST; s < FIRST + SEEDS; s++) {
  const verdicts: { member: string; min: number }[] = [];
  const c = createSimCluster({ size: N, seed: s, logger: new TimeoutLog(verdicts) });
  const v = N - 2;
  const victim = c.names[v];
  const address = c.addresses[v];
  let suspected = 0;
  let firstAt = -1;
  let dead = 0;
  c.members.forEach((g, o) => {
    if (o === v) return;
    g.on("member-suspect", (e) => {
      if (e.member.name !== victim) return;
      suspected++;
      if (firstAt < 0) firstAt = c.clock.now();
    });
    g.on("member-failed", (e) => {
      if (e.member.name === victim) dead++;
      else falseDead++;
    });
  });
  for (let i = 0; i < STALLS; i++) {
    c.net.stall(address);
    c.clock.advance(STALL_MS);
    c.net.resume(address);
    c.clock.advance(GAP_MS);
  }
  suspicionsBefore += suspected;
  if (dead > 0) console.error(`  seed ${s}: ${victim} declared dead by a stall alone`);
  c.clock.advance(AFTER_MS);
  firstAt = -1;
  verdicts.length = 0;
  const stopped = c.clock.now();
  c.net.stall(address);
  const took = c.clock.runWhileNot(() => c.allSee(v, "dead"), 300_000, 10);
  allDead.push(took < 0 ? Infinity : took / 1000);
  firstSuspect.push(firstAt < 0 ? Infinity : (firstAt - stopped) / 1000);
  const mins = verdicts.filter((x) => x.member === victim).map((x) => x.min);
  if (mins.length) minTimeouts.push(median(mins));
  console.error(
    `  seed ${s}: all dead ${(took / 1000).toFixed(2)} s, first suspicion ${
      ((firstAt - stopped) / 1000).toFixed(2)
    } s, min_ms of its verdicts ${mins.length ? `${Math.min(...mins)}–${Math.max(...mins)}` : "–"}`,
  );
  c.stop();
}
console.log(
  `N=${N}, ${STALLS} stall(s) of ${STALL_MS} ms ${GAP_MS} ms apart, stopped ${
    AFTER_MS / 1000
  } s later, ${SEEDS} seeds: every member holds it dead after ${median(allDead).toFixed(2)} s (${
    range(allDead)
  }), first suspicion ${median(firstSuspect).toFixed(2)} s (${
    range(firstSuspect)
  }); shortest timeout of the verdicts (median per seed) ${
    minTimeouts.length ? median(minTimeouts) : "–"
  } ms; suspicions of it from the stalls ${suspicionsBefore}; false dead verdicts ${falseDead}`,
);
