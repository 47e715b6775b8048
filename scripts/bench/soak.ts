/**
 * Benchmark: an hour of an operator's life with a cohort cluster, watching for what grows.
 *
 * Starts `--members` real daemons (`node dist/mod.js daemon`; the last `--deno` of them under
 * `deno run -A mod.ts daemon`) at the default log level, forms a cluster through the CLI, then
 * plays one operator action every 5–10 s in an order drawn from `--seed` (replayable): tokens
 * added and revoked, app versions set, members restarted (SIGTERM, kill -9), a member stopped
 * (SIGSTOP) for 20 s, members removed and joined again under a new name, a stopped member
 * removed with `--force` and replaced by a fresh daemon at its address. Member 1 is the
 * operator's own machine: it is never restarted, so its process figures span the whole run.
 *
 * Meanwhile `cluster list` runs every `--list-every` s on a member in turn (its latency is
 * followed; after every action the cluster must converge: every initialised member listed on
 * the member asked, ONLINE unless stopped) and every `--scrape-every` s each member is sampled:
 * `cohort metrics` (RSS, V8 heap, handles, gossip), /proc (descriptors, threads, CPU), the
 * store's file and WAL sizes, rows of each cohort table (on a copy, with sqlite3), files in the
 * state directory, log lines. The report: each figure's growth per 100 actions after the
 * warm-up (a fifth of the actions), the slowest lists, the most repeated log lines, and every
 * check that failed. Figures are reported, never asserted.
 *
 * Usage: `npm run build && npx tsx scripts/bench/soak.ts [--minutes 10] [--members 5]
 *         [--deno 1] [--seed 1] [--list-every 5] [--scrape-every 15] [--out DIR]`
 * `--out DIR` keeps the daemons' logs and the samples (samples.json) there.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { createRandom } from "../../gossip/random.ts";
import { removeDir } from "../../tests/helpers/process.ts";
import {
  growth,
  logTally,
  procFigures,
  type Sample,
  scrapeFigures,
  storeFigures,
} from "./soak_watch.ts";
import { Cluster } from "./soak_cluster.ts";
import { pickAction } from "./soak_actions.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    members: { type: "string", default: "5" },
    deno: { type: "string", default: "1" },
    seed: { type: "string", default: "1" },
    "list-every": { type: "string", default: "5" },
    "scrape-every": { type: "string", default: "15" },
    out: { type: "string" },
  },
});
const MINUTES = Number(values.minutes);
const SEED = Number(values.seed);
const work = mkdtempSync(join(tmpdir(), "cohort-soak-"));
const out = values.out ?? join(work, "out");
mkdirSync(out, { recursive: true });
const cluster = new Cluster(work, out, Number(values.members), Number(values.deno));
const samples: Sample[] = [];
const lists: { actions: number; ms: number; ok: boolean }[] = [];
let stopping = false;
const log = (text: string) =>
  console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${text}`);

/** Every `--scrape-every` s: one sample of each member that runs and is not stopped. */
async function scrapeLoop(): Promise<void> {
  const scratch = mkdtempSync(join(work, "scratch-"));
  while (!stopping) {
    for (const s of cluster.slots) {
      if (s.state !== "up" || !s.pid) continue;
      const { incarnation, name } = s;
      const figures: Record<string, number> = { ...procFigures(s.pid) };
      const scrape = await cluster.cli(s, ["metrics"]);
      if (scrape.code === 0) Object.assign(figures, scrapeFigures(scrape.stdout));
      else if (s.state === "up" && s.incarnation === incarnation && name && s.name === name) {
        // A member restarted, stopped or removed meanwhile is not a failed scrape.
        cluster.fail(`metrics on ${s.name}: ${scrape.stderr.trim().slice(0, 200)}`);
      }
      Object.assign(figures, storeFigures(s.dir, scratch));
      const logs = logTally(s.logFiles);
      figures.log_lines = logs.lines;
      samples.push({
        member: `slot${s.index}`,
        incarnation,
        actions: cluster.actions,
        atMs: Date.now(),
        figures,
      });
    }
    await sleep(Number(values["scrape-every"]) * 1000);
  }
}

/** Every `--list-every` s: `cluster list` on the next member that serves, timed. */
async function listLoop(): Promise<void> {
  let next = 0;
  while (!stopping) {
    const up = cluster.slots.filter((s) => s.state === "up" && s.name);
    const s = up[next++ % Math.max(1, up.length)];
    if (s) {
      const { name, incarnation } = s;
      const t0 = performance.now();
      const r = await cluster.cli(s, ["cluster", "list"]);
      lists.push({ actions: cluster.actions, ms: performance.now() - t0, ok: r.code === 0 });
      // A member stopped, restarted or removed meanwhile may refuse; one that stayed may not.
      if (r.code !== 0 && s.state === "up" && s.name === name && s.incarnation === incarnation) {
        cluster.fail(`cluster list on ${name}: ${r.stderr.trim().slice(0, 200)}`);
      }
    }
    await sleep(Number(values["list-every"]) * 1000);
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  log(`work ${work}, seed ${SEED}, ${MINUTES} min`);
  await cluster.form();
  log(`formed: ${cluster.slots.map((s) => `${s.name}(${s.runtime}, pid ${s.pid})`).join(" ")}`);
  const loops = [scrapeLoop(), listLoop()];
  const { next: random } = createRandom(SEED);
  const end = started + MINUTES * 60_000;
  while (Date.now() < end) {
    const action = pickAction(cluster, random);
    const t0 = Date.now();
    const what = await action.run();
    cluster.actions++;
    const converged = await cluster.converged(60_000);
    log(`#${cluster.actions} ${what} (${Date.now() - t0} ms)${converged ? "" : " NOT CONVERGED"}`);
    await sleep(5000 + random() * 5000);
  }
  stopping = true;
  await cluster.resumeAll();
  await Promise.all(loops);
  await cluster.fullCheck();
  report(started);
  await cluster.stopAll();
}

function report(started: number): void {
  const minutes = (Date.now() - started) / 60_000;
  writeFileSync(join(out, "samples.json"), JSON.stringify({ samples, lists }, null, 0));
  console.log(`\n## soak: seed ${SEED}, ${minutes.toFixed(1)} min, ${cluster.actions} actions`);
  console.log(`members: ${cluster.slots.map((s) => `slot${s.index}=${s.runtime}`).join(", ")}`);
  console.log(`actions: ${[...cluster.counts].map(([k, n]) => `${k} ${n}`).join(", ")}`);
  const rows = growth(samples, Math.floor(cluster.actions / 5));
  console.log("\n| figure | slot1 first → last | slot1 per 100 actions | most per 100 (member) |");
  console.log("|---|---|---|---|");
  for (const figure of [...new Set(rows.map((r) => r.figure))]) {
    if (/^(cpu_s|log_lines|list_)/.test(figure)) continue; // rates below
    const mine = rows.filter((r) => r.figure === figure);
    const anchor = mine.find((r) => r.member === "slot1");
    const most = mine.reduce((a, b) => (b.per100 > a.per100 ? b : a));
    console.log(
      `| ${figure} | ${anchor ? `${fmt(anchor.first)} → ${fmt(anchor.last)}` : "-"} | ` +
        `${anchor ? fmt(anchor.per100) : "-"} | ${fmt(most.per100)} (${most.member}) |`,
    );
  }
  console.log("\nrates (whole run, per member and minute of its samples):");
  for (const member of new Set(samples.map((s) => s.member))) {
    const mine = samples.filter((s) => s.member === member);
    const inc = mine.filter((s) => s.incarnation === mine[mine.length - 1].incarnation);
    const a = inc[0];
    const b = inc[inc.length - 1];
    const mins = (b.atMs - a.atMs) / 60_000 || 1;
    const cpu = ((b.figures.cpu_s ?? 0) - (a.figures.cpu_s ?? 0)) / (mins * 60) * 100;
    const lines = (mine[mine.length - 1].figures.log_lines - mine[0].figures.log_lines) /
      (((mine[mine.length - 1].atMs - mine[0].atMs) / 60_000) || 1);
    console.log(
      `  ${member}: CPU ${cpu.toFixed(2)} % of a core (last process, ${mins.toFixed(1)} min), ` +
        `log ${lines.toFixed(1)} lines/min`,
    );
  }
  // The daemon's own time per `cluster list` on slot1, first and last quarter of its samples.
  const anchor = samples.filter((s) => s.member === "slot1" && s.incarnation === 1);
  const perList = (a: Sample, b: Sample) =>
    ((b.figures.list_sum_s ?? 0) - (a.figures.list_sum_s ?? 0)) * 1000 /
    Math.max(1, (b.figures.list_count ?? 0) - (a.figures.list_count ?? 0));
  const aq = Math.max(1, Math.floor(anchor.length / 4));
  if (anchor.length > 2 * aq) {
    console.log(
      `\nslot1 daemon time per cluster list: first quarter ` +
        `${perList(anchor[0], anchor[aq]).toFixed(2)} ms, last quarter ` +
        `${perList(anchor[anchor.length - 1 - aq], anchor[anchor.length - 1]).toFixed(2)} ms`,
    );
  }
  const q = Math.max(1, Math.floor(lists.length / 4));
  const med = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
  console.log(
    `\ncluster list: ${lists.length} runs, ${lists.filter((l) => !l.ok).length} failed; ` +
      `median first quarter ${med(lists.slice(0, q).map((l) => l.ms)).toFixed(0)} ms, ` +
      `last quarter ${med(lists.slice(-q).map((l) => l.ms)).toFixed(0)} ms`,
  );
  console.log("\nmost repeated log lines (all members, all runs):");
  const tally = logTally(cluster.slots.flatMap((s) => s.logFiles));
  for (const [k, n] of [...tally.byKey].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    console.log(`  ${String(n).padStart(6)}  ${k}`);
  }
  console.log(`\nchecks failed: ${cluster.failures.length}`);
  for (const f of cluster.failures) console.log(`  - ${f}`);
}

const fmt = (x: number) => Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2);

const bail = async (signal: string) => {
  log(`${signal}: stopping`);
  stopping = true;
  await cluster.stopAll();
  process.exit(130);
};
process.on("SIGINT", () => void bail("SIGINT"));
process.on("SIGTERM", () => void bail("SIGTERM"));
try {
  await main();
} catch (err) {
  log(`failed: ${(err as Error).stack}`);
  await cluster.stopAll();
  process.exitCode = 1;
} finally {
  removeDir(work);
}
