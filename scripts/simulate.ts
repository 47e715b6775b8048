/**
 * Runs the whole-member simulation (tests/sim/) for many seeds: each seed forms a cluster of
 * whole members on the simulated clock and plays an adversarial operator's script against it,
 * with the invariants of tests/sim/invariants.ts checked throughout. A failing seed prints its
 * violations and its script, and replays the same with `--seed S`, under Node or Deno (a seed
 * plays the same run under both).
 *
 * Usage: `tsx scripts/simulate.ts [--seeds N] [--seed S] [--from F] [--members M] [--steps K]
 * [--logs] [--help]` (or `deno run -A scripts/simulate.ts …`)
 * - `--seeds N`: seeds F..F+N-1 (default 100, from `--from`, default 1);
 * - `--seed S`: that one seed (with `--logs`, every member's log lines too);
 * - `--members M` (default 3), `--steps K` (default 8): the world and the script's length.
 * Seeds that meet a known open bug (`KNOWN_BUGS` in tests/sim/operator.ts) or a known limitation
 * (`LIMITS` in tests/sim/invariants.ts) are reported as such.
 * Exits 1 when a seed failed otherwise.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { failed as failedSeed, report, runSeed } from "../tests/sim/operator.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string" },
    seed: { type: "string" },
    from: { type: "string" },
    members: { type: "string" },
    steps: { type: "string" },
    logs: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(
    `Usage: tsx scripts/simulate.ts [--seeds N] [--from F] [--seed S] [--members M] [--steps K] [--logs]
  --seeds N    seeds F..F+N-1 (default 100)
  --from F     the first seed (default 1)
  --seed S     that one seed, with its script (and with --logs, every member's log lines)
  --members M  members of the world (default 3)
  --steps K    steps of the operator's script (default 8; npm test runs 4)
Exits 1 when a seed failed (seeds meeting a known open bug or limitation do not count).`,
  );
  process.exit(0);
}

function count(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > 1e9) {
    console.error(`--${name} must be an integer from ${min}, got "${text}"`);
    process.exit(2);
  }
  return n;
}

const members = count("members", values.members, 3, 2);
const steps = count("steps", values.steps, 8, 0);
const from = values.seed !== undefined
  ? count("seed", values.seed, 1, 0)
  : count("from", values.from, 1, 0);
const seeds = values.seed !== undefined ? 1 : count("seeds", values.seeds, 100);
const options = { members, steps, logs: values.logs };

const started = performance.now();
let failed = 0;
let known = 0;
let simulated = 0;
for (let seed = from; seed < from + seeds; seed++) {
  const r = await runSeed(seed, options);
  simulated += r.simulatedMs;
  if (values.seed !== undefined) {
    if (values.logs) console.log(r.logs.join("\n"));
    console.log(r.script.join("\n"));
  }
  if (failedSeed(r)) failed++;
  else if (r.known.length || r.limits.length) known++;
  if (r.violations.length || r.limits.length) console.log(report(r, options));
  if ((seed - from + 1) % 100 === 0) {
    console.error(
      `${seed - from + 1} seeds, ${failed} failed, ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s`,
    );
  }
}
const secs = (performance.now() - started) / 1000;
console.log(
  `${seeds} seeds (${from}..${from + seeds - 1}), ${members} members, ${steps} steps: ${
    seeds - failed - known
  } passed, ${failed} failed, ${known} met a known open bug; ${
    (simulated / 1000).toFixed(0)
  } simulated s in ${secs.toFixed(1)} s`,
);
process.exit(failed ? 1 : 0);
