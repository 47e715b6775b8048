/**
 * The long run of `tests/e2e/concurrent_schedule.test.ts`: seeded rounds of operations run at the
 * same moment on real daemons (removals, joins through any member, one token used by two
 * machines, a revoke beside a join, app versions, record writes, shutdowns, `init` twice), each
 * followed by the checks of `tests/e2e/concurrent_invariants.ts`, for `--minutes`. Runs the test
 * file again and again, each run a fresh cluster with the next seed, and reports each run's
 * seed, rounds, outcome and time; a failed run's output is kept in `--out`. Figures are
 * reported, never asserted; the exit status is 1 when a run failed.
 *
 * Usage: `npm run build && npx tsx scripts/bench/concurrent_schedule.ts [--minutes 5]
 *         [--seed 1] [--rounds 12] [--runtime node|deno] [--out DIR]`
 * A failed seed replays with `COHORT_CONCURRENT_SEED=S COHORT_CONCURRENT_ROUNDS=R npx tsx
 * tests/e2e/concurrent_schedule.test.ts` (the draws replay; who wins each race may differ).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dirname ?? ".", "../..");
const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "5" },
    seed: { type: "string", default: "1" },
    rounds: { type: "string", default: "12" },
    runtime: { type: "string", default: "node" },
    out: { type: "string" },
  },
});

function count(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`--${flag} must be a positive whole number, got "${text}"`);
    process.exit(2);
  }
  return n;
}
const minutes = count("minutes", values.minutes!);
const firstSeed = count("seed", values.seed!);
const rounds = count("rounds", values.rounds!);
if (values.runtime !== "node" && values.runtime !== "deno") {
  console.error(`--runtime must be node or deno, got "${values.runtime}"`);
  process.exit(2);
}
const out = values.out ?? mkdtempSync(join(tmpdir(), "cohort-concurrent-"));
mkdirSync(out, { recursive: true });

const file = join(root, "tests/e2e/concurrent_schedule.test.ts");
const command = values.runtime === "deno"
  ? [join(root, "node_modules/.bin/deno"), "run", "-A", file]
  : [join(root, "node_modules/.bin/tsx"), file];
const until = Date.now() + minutes * 60_000;
const runs: { seed: number; ok: boolean; s: number }[] = [];
for (let seed = firstSeed; Date.now() < until; seed++) {
  const started = Date.now();
  const r = spawnSync(command[0], command.slice(1), {
    cwd: root,
    encoding: "utf8",
    env: {
      ...process.env,
      COHORT_CONCURRENT_SEED: String(seed),
      COHORT_CONCURRENT_ROUNDS: String(rounds),
    },
    maxBuffer: 256 * 1024 * 1024,
    timeout: 30 * 60_000,
  });
  const s = (Date.now() - started) / 1000;
  const ok = r.status === 0;
  runs.push({ seed, ok, s });
  if (!ok) writeFileSync(join(out, `seed-${seed}.log`), `${r.stdout}\n${r.stderr}`);
  console.log(
    `seed ${seed}: ${ok ? "passed" : `FAILED (${join(out, `seed-${seed}.log`)})`}, ${
      s.toFixed(1)
    } s`,
  );
}
const failed = runs.filter((r) => !r.ok);
console.log(
  `${runs.length} runs of ${rounds} rounds (${values.runtime}), ${failed.length} failed` +
    (failed.length ? `: seeds ${failed.map((r) => r.seed).join(", ")}` : ""),
);
process.exit(failed.length ? 1 : 0);
