/**
 * Benchmark: what the daemon's own `cohort_http_request_duration_seconds` says of
 * `GET /core/1.0/cluster` (the figure `soak_watch.ts` follows: its sum over its count) at two
 * cadences, on one real member (`dist/`): `--requests` back to back, then `--spaced` requests one
 * per `--gap-ms` (the soak lists every 5 s). Each line gives the mean the soak would report and
 * how many answers fell in each of the histogram's buckets: a wall-clock mean on a shared
 * machine is carried by the few answers the process was descheduled or collected garbage in, and
 * an answer that comes seconds after the last one runs colder code. What a list answer does per
 * request is counted apart, in CPU, by `list_history.ts`.
 *
 * Usage: `npm run build && npx tsx scripts/bench/list_metric.ts [--requests 3000] [--spaced 100]
 *   [--gap-ms 1000]`
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { requestJson } from "../../lib/net/client.ts";
import { freePort, removeDir, tempDir } from "../../tests/helpers/process.ts";
import { scrape } from "./scrape.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const { values: opts } = parseArgs({
  options: {
    requests: { type: "string", default: "3000" },
    spaced: { type: "string", default: "100" },
    "gap-ms": { type: "string", default: "1000" },
  },
});
const REQUESTS = Math.max(10, Math.min(100_000, Number(opts.requests) || 3000));
const SPACED = Math.max(10, Math.min(10_000, Number(opts.spaced) || 100));
const GAP_MS = Math.max(1, Math.min(60_000, Number(opts["gap-ms"]) || 1000));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = tempDir("cohort-list-metric-");
const socket = join(dir, "control.socket");
const daemon = spawn(process.execPath, [join(root, "dist/mod.js"), "daemon", "--state-dir", dir], {
  stdio: "ignore",
});
const list = () => requestJson({ method: "GET", path: "/core/1.0/cluster", socketPath: socket });
const NAME = "cohort_http_request_duration_seconds";
const ROUTE = 'route="/core/1.0/cluster"';

/** The list's histogram now: count, sum (s) and the cumulative count per bucket bound. */
async function histogram() {
  const m = await scrape(dir);
  const series = (kind: string) =>
    [...m].filter(([k]) => k.startsWith(`${NAME}_${kind}{`) && k.includes(ROUTE));
  const buckets = series("bucket").map(([k, v]) => [/le="([^"]+)"/.exec(k)![1], v] as const);
  return { count: series("count")[0]?.[1] ?? 0, sum: series("sum")[0]?.[1] ?? 0, buckets };
}

/** The answers since `before`: mean (ms) and how many fell in each bucket. */
async function since(before: Awaited<ReturnType<typeof histogram>>, label: string) {
  const now = await histogram();
  const n = now.count - before.count;
  const mean = (now.sum - before.sum) / n * 1000;
  let below = 0;
  const spread = now.buckets.map(([le, v], i) => {
    const cumulative = v - (before.buckets[i]?.[1] ?? 0);
    const inBucket = cumulative - below;
    below = cumulative;
    return inBucket ? `≤${le} s: ${inBucket}` : "";
  }).filter(Boolean);
  console.log(`${label}: ${n} answers, mean ${mean.toFixed(3)} ms; ${spread.join(", ")}`);
}

try {
  for (let k = 0;; k++) {
    try {
      await requestJson({ method: "GET", path: "/core/1.0", socketPath: socket });
      break;
    } catch (err) {
      if (k > 600) throw err;
      await sleep(50);
    }
  }
  const init = spawnSync(process.execPath, [
    join(root, "dist/cli.cjs"),
    "init",
    "m1",
    `127.0.0.1:${await freePort()}`,
    "--bootstrap",
    "--state-dir",
    dir,
  ]);
  if (init.status !== 0) throw new Error(`bootstrap: ${init.stderr}`);
  console.log(`One member, load ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  let before = await histogram();
  for (let i = 0; i < REQUESTS; i++) await list();
  await since(before, "back to back");
  before = await histogram();
  for (let i = 0; i < SPACED; i++) {
    await list();
    await sleep(GAP_MS);
  }
  await since(before, `one per ${GAP_MS} ms`);
  console.log(`load after ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
} finally {
  daemon.kill("SIGTERM");
  await new Promise((r) => daemon.once("close", r));
  removeDir(dir);
}
