/**
 * Benchmark: where an idle member's resident memory goes, and what a setting or a build changes
 * (issue 15, "Memory": an idle member at ≤ 60 MB RSS, the gap explained part by part).
 *
 * One cluster of N real members on loopback (the first bootstraps, the others join it one
 * after the other through their control sockets), then an idle window. The joiners are shared
 * round-robin between the `--variant`s, so every variant is measured in the same cluster, at
 * the same N and the same load; the admitting member (f0, always the first variant) is reported
 * apart. Every member is scraped once before the window, as a monitored member is (its first
 * scrape starts the process metrics). Per variant, means over its members at the window's end:
 *
 * - VmRSS, Pss (`smaps_rollup`: shared pages divided between the processes that map them),
 *   RssAnon (the process's own pages) and RssFile (mapped files);
 * - RSS split by mapping (`/proc/PID/smaps`): the node executable's pages (shared by every Node
 *   process on the host), libSQL's native library, other shared libraries, glibc's main malloc
 *   arena (`[heap]`), the malloc arenas of other threads (64 MB reservations), thread stacks, and
 *   the rest of the anonymous memory (the V8 heap, mostly);
 * - the V8 heap by space, used and committed, and external memory (the member's own metrics);
 * - open sockets and gossip connections, threads (by name), idle CPU (% of one core, threads' run time) and one
 *   `GET /core/1.0/cluster`'s CPU on the answering member (`--requests` sequential requests to
 *   one member of each variant, its idle CPU over the same time subtracted).
 *
 * Usage: `npm run build && node --import tsx scripts/bench/member_memory.ts [--members 10]
 *   [--idle 30] [--settle 10] [--requests 200]
 *   [--variant "NAME|NODE FLAGS|ENV=V ...|DIST|mod or cli"]... [--heap-snapshot DIR]`
 * `--heap-snapshot DIR` has f1 (a joiner of the first variant) write its V8 heap snapshot into
 * DIR once everything is measured (`heap_summary.ts` reads it; two of them, at two N, show what
 * grows with the cluster).
 * A variant is a name, the Node flags and environment its members run with, the built daemon it
 * runs (default `dist/`; a copy of an older build beside `node_modules`, e.g. in `.tmp/`,
 * compares before and after) and how it starts: `node DIST/mod.js daemon` (default, as
 * `scale.ts` and `formation.ts` start members) or `node DIST/cli.cjs daemon` (the installed
 * `cohort daemon`). With no `--variant`, one: `base`. E.g. `--variant "base" --variant
 * "arena2||MALLOC_ARENA_MAX=2"`.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { freePort } from "../../tests/helpers/process.ts";
import { takeHeapSnapshot } from "./heap_summary.ts";
import { threadRunMs } from "./run_time.ts";
import { scrape } from "./scrape.ts";
import { control } from "./control.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");

/** A configuration the members of one share run with. */
export interface Variant {
  name: string;
  nodeFlags: string[];
  env: Record<string, string>;
  dist: string;
  /** The entry it starts from: `mod.js` or the command line's bundle, `cli.cjs`. */
  entry: "mod.js" | "cli.cjs";
}

/** Parses `NAME|NODE FLAGS|ENV=V ...|DIST|mod or cli` (every part after the name optional). */
export function parseVariant(spec: string, defaultDist: string): Variant {
  const [name, flags = "", env = "", dist = "", entry = ""] = spec.split("|");
  return {
    name: name.trim() || "base",
    nodeFlags: flags.split(/\s+/).filter(Boolean),
    env: Object.fromEntries(
      env.split(/\s+/).filter(Boolean).map((
        kv,
      ) => [kv.split("=")[0], kv.slice(kv.indexOf("=") + 1)]),
    ),
    dist: resolve(dist.trim() || defaultDist),
    entry: entry.trim() === "cli" ? "cli.cjs" : "mod.js",
  };
}

/** Resident memory of a process by mapping kind, kB. */
export type Split = Record<
  | "node binary"
  | "libSQL native"
  | "other libraries"
  | "malloc main arena"
  | "malloc thread arenas"
  | "thread stacks"
  | "other anonymous (V8 heap...)"
  | "other files",
  number
>;

interface Mapping {
  start: number;
  end: number;
  perm: string;
  path: string;
  rss: number;
}

/** Reads `/proc/PID/smaps` into mappings (start, end, permissions, path, Rss in kB). */
function mappings(pid: number): Mapping[] {
  const out: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      out.push({
        start: parseInt(m[1], 16),
        end: parseInt(m[2], 16),
        perm: m[3],
        path: m[4].trim(),
        rss: 0,
      });
    } else if (line.startsWith("Rss:")) out[out.length - 1].rss = Number(line.split(/\s+/)[1]);
  }
  return out;
}

const ARENA = 64 * 2 ** 20;

/**
 * Splits a process's RSS by what its mappings are. glibc gives each thread arena a 64 MB-aligned
 * reservation, used from its start (rw-p) and reserved beyond (---p); a thread's stack is a
 * rw-p mapping right after a one-page ---p guard. What else is anonymous is V8's heap (pages of
 * 256 KB, large objects, code), with a few small native buffers.
 */
export function splitRss(pid: number, execPath = process.execPath): Split {
  const split: Split = {
    "node binary": 0,
    "libSQL native": 0,
    "other libraries": 0,
    "malloc main arena": 0,
    "malloc thread arenas": 0,
    "thread stacks": 0,
    "other anonymous (V8 heap...)": 0,
    "other files": 0,
  };
  const maps = mappings(pid);
  maps.forEach((m, i) => {
    const next = maps[i + 1];
    const prev = maps[i - 1];
    let kind: keyof Split;
    if (m.path === execPath) kind = "node binary";
    else if (/libsql/.test(m.path) && m.path.endsWith(".node")) kind = "libSQL native";
    else if (/\.so(\.|$)/.test(m.path)) kind = "other libraries";
    else if (m.path === "[heap]") kind = "malloc main arena";
    else if (m.path === "[stack]") kind = "thread stacks";
    else if (m.path.startsWith("/")) kind = "other files";
    else if (
      m.start % ARENA === 0 && m.perm === "rw-p" &&
      (next?.start === m.end && next.perm === "---p" && next.end - m.start === ARENA ||
        m.end - m.start === ARENA)
    ) kind = "malloc thread arenas";
    else if (
      m.perm === "rw-p" && prev?.end === m.start && prev.perm === "---p" &&
      prev.end - prev.start === 4096 && m.end - m.start >= 2 ** 20
    ) kind = "thread stacks";
    else kind = "other anonymous (V8 heap...)";
    split[kind] += m.rss;
  });
  return split;
}

/** A `/proc/PID/status` or `smaps_rollup` field, kB. */
function field(file: string, name: string): number {
  return Number(
    new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(readFileSync(file, "utf8"))?.[1] ?? NaN,
  );
}

/** The process's threads, counted by name (`node` ×11, `tokio-runtime-w` ×2...). */
function threads(pid: number): Map<string, number> {
  const names = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      names.set(name, (names.get(name) ?? 0) + 1);
    } catch { /* gone */ }
  }
  return names;
}

/** Open sockets of a process (TCP, unix), from its file descriptors. */
function sockets(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")) n++;
    } catch { /* closed */ }
  }
  return n;
}

interface Sample {
  sockets: number;
  rss: number;
  pss: number;
  anon: number;
  file: number;
  split: Split;
  heap: Map<string, number>;
  threads: Map<string, number>;
  idleCpu: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const note = (s: string) => console.error(`[member_memory] ${s}`);
const load = () =>
  spawnSync("uptime", { encoding: "utf8" }).stdout.trim().replace(/^.*load/, "load");

if (process.argv[1]?.endsWith("member_memory.ts")) await main();

async function main(): Promise<void> {
  const { values: opts } = parseArgs({
    options: {
      members: { type: "string", default: "10" },
      idle: { type: "string", default: "30" },
      settle: { type: "string", default: "10" },
      requests: { type: "string", default: "200" },
      variant: { type: "string", multiple: true, default: ["base"] },
      "heap-snapshot": { type: "string" },
    },
  });
  const N = Math.max(2, Math.min(100, Number(opts.members) || 10));
  const IDLE_MS = Math.max(1, Number(opts.idle) || 30) * 1000;
  const SETTLE_MS = Math.max(0, Number(opts.settle) || 0) * 1000;
  const REQUESTS = Math.max(0, Math.min(5000, Number(opts.requests) || 0));
  const variants = opts.variant.map((v) => parseVariant(v, join(root, "dist")));
  const variantOf = (i: number) => variants[i === 0 ? 0 : (i - 1) % variants.length];
  const snapshotDir = opts["heap-snapshot"] ? resolve(opts["heap-snapshot"]) : undefined;
  if (snapshotDir) mkdirSync(snapshotDir, { recursive: true });

  const procs: ChildProcess[] = [];
  const dirs: string[] = [];
  const stopAll = async () => {
    await Promise.all(
      procs.map((p) =>
        p.exitCode !== null || p.signalCode !== null ? undefined : new Promise<void>((r) => {
          p.once("close", () => r());
          p.kill("SIGTERM");
          setTimeout(() => p.kill("SIGKILL"), 10_000).unref();
        })
      ),
    );
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => void stopAll().then(() => process.exit(130)));
  }
  const members: { name: string; dir: string; address: string; pid: number }[] = [];
  const api = (i: number, method: string, path: string, body?: unknown) =>
    control(members[i].dir, `f${i}`, method, path, body);
  try {
    note(`starting ${N} members: ${load()}`);
    const ports = new Set<number>();
    for (let i = 0; i < N; i++) {
      const dir = mkdtempSync(join(tmpdir(), `cohort-mem-${i}-`));
      dirs.push(dir);
      let port = await freePort();
      while (ports.has(port)) port = await freePort();
      ports.add(port);
      const v = variantOf(i);
      const child = spawn(
        process.execPath,
        [
          ...v.nodeFlags,
          ...(snapshotDir && i === 1
            ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${snapshotDir}`]
            : []),
          join(v.dist, v.entry),
          "daemon",
          "--state-dir",
          dir,
          "--extensions",
          "feature_a",
        ],
        { stdio: ["ignore", "ignore", "ignore"], env: { ...process.env, ...v.env } },
      );
      procs.push(child);
      members.push({ name: `f${i}`, dir, address: `127.0.0.1:${port}`, pid: child.pid! });
    }
    for (let i = 0; i < N; i++) {
      for (let k = 0;; k++) {
        try {
          await api(i, "GET", "/core/1.0");
          break;
        } catch (err) {
          if (k > 1200) throw err;
          await sleep(50);
        }
      }
    }
    await api(0, "POST", "/core/control", {
      bootstrap: true,
      name: members[0].name,
      address: members[0].address,
    });
    for (let i = 1; i < N; i++) {
      for (let attempt = 1;; attempt++) {
        const token = await api(0, "POST", "/core/control/tokens", { name: members[i].name });
        try {
          await api(i, "POST", "/core/control", {
            bootstrap: false,
            name: members[i].name,
            address: members[i].address,
            join_token: token,
          });
          break;
        } catch (err) {
          if (attempt >= 5) throw err;
          note(`f${i}'s join refused (${attempt}), trying again: ${String(err).slice(0, 200)}`);
          await api(0, "DELETE", `/core/control/tokens/${members[i].name}`).catch(() => {});
          await sleep(2000);
        }
      }
    }
    // Formed once every member lists N members, all alive.
    for (let k = 0;; k++) {
      const lists = await Promise.all(
        members.map((_, i) => api(i, "GET", "/core/1.0/cluster") as Promise<unknown[]>),
      );
      if (lists.every((l) => l.length === N)) break;
      if (k > 600) throw new Error("the cluster did not form in 60 s");
      await sleep(100);
    }
    note(`formed; settling ${SETTLE_MS / 1000} s, then idle ${IDLE_MS / 1000} s: ${load()}`);
    await sleep(SETTLE_MS);
    // Scraped once before the window, as a monitored member is: its first scrape starts the
    // process metrics (the event loop sampler, the GC observer), which then stay.
    await Promise.all(members.map((m) => scrape(m.dir)));
    const pids = members.map((m) => m.pid);
    const cpu0 = pids.map(threadRunMs);
    const t0 = performance.now();
    await sleep(IDLE_MS);
    const idleCpu = pids.map((p, k) =>
      (100 * (threadRunMs(p) - cpu0[k])) / (performance.now() - t0)
    );
    const loadAtEnd = load();
    const samples: Sample[] = [];
    const memory = members.map((m) => ({
      rss: field(`/proc/${m.pid}/status`, "VmRSS") / 1024,
      pss: field(`/proc/${m.pid}/smaps_rollup`, "Pss") / 1024,
      anon: field(`/proc/${m.pid}/status`, "RssAnon") / 1024,
      file: field(`/proc/${m.pid}/status`, "RssFile") / 1024,
      split: splitRss(m.pid),
      sockets: sockets(m.pid),
    }));
    for (const [i, m] of members.entries()) {
      const metrics = await scrape(m.dir);
      const heap = new Map<string, number>();
      for (const [series, value] of metrics) {
        const s = /^nodejs_heap_space_size_(used|total)_bytes\{space="([a-z_]+)"\}$/.exec(series);
        if (s) heap.set(`${s[2]} ${s[1]}`, value / 2 ** 20);
      }
      heap.set("external", (metrics.get("nodejs_external_memory_bytes") ?? NaN) / 2 ** 20);
      heap.set("used", (metrics.get("nodejs_heap_size_used_bytes") ?? NaN) / 2 ** 20);
      heap.set("committed", (metrics.get("nodejs_heap_size_total_bytes") ?? NaN) / 2 ** 20);
      heap.set(
        "gossip connections",
        ["inbound", "outbound"].reduce(
          (sum, d) => sum + (metrics.get(`cohort_gossip_connections{direction="${d}"}`) ?? NaN),
          0,
        ),
      );
      samples.push({
        ...memory[i],
        heap,
        threads: threads(m.pid),
        idleCpu: idleCpu[i],
      });
    }
    // One list request's CPU on a joiner of each variant (f1, f2...: one of each).
    const listMs: number[] = [];
    for (let v = 0; v < variants.length && REQUESTS > 0; v++) {
      const i = Math.min(N - 1, 1 + v);
      const c0 = threadRunMs(pids[i]);
      const t = performance.now();
      for (let k = 0; k < REQUESTS; k++) await api(i, "GET", "/core/1.0/cluster");
      listMs.push(
        (threadRunMs(pids[i]) - c0 - (idleCpu[i] / 100) * (performance.now() - t)) / REQUESTS,
      );
    }
    report(N, variants, variantOf, samples, listMs, IDLE_MS, loadAtEnd);
    if (snapshotDir) await heapSnapshot(pids[1], snapshotDir);
  } finally {
    await stopAll();
  }
}

/** Has member `pid` write its heap snapshot into `dir`; resolves once the file is complete. */
async function heapSnapshot(pid: number, dir: string): Promise<void> {
  const file = await takeHeapSnapshot(pid, dir);
  note(file ? `heap snapshot of f1: ${join(dir, file)}` : "no heap snapshot written");
}

function report(
  N: number,
  variants: Variant[],
  variantOf: (i: number) => Variant,
  samples: Sample[],
  listMs: number[],
  idleMs: number,
  loadAtEnd: string,
): void {
  const cols = [
    ...variants.map((v) => ({
      title: `${v.name} (${samples.filter((_, i) => i > 0 && variantOf(i) === v).length})`,
      of: samples.filter((_, i) => i > 0 && variantOf(i) === v),
    })),
    { title: `f0, admitting (${variants[0].name})`, of: [samples[0]] },
  ];
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const row = (label: string, pick: (s: Sample) => number, digits = 1) =>
    console.log(
      `| ${label} | ${cols.map((c) => mean(c.of.map(pick)).toFixed(digits)).join(" | ")} |`,
    );
  console.log(
    `\nIdle members, N=${N}, ${idleMs / 1000} s idle window; Node ${process.version}; ` +
      `${loadAtEnd} (at the window's end)`,
  );
  for (const v of variants) {
    console.log(
      `- ${v.name}: flags "${v.nodeFlags.join(" ")}", env "${
        Object.entries(v.env).map(([k, x]) => `${k}=${x}`).join(" ")
      }", ${join(v.dist, v.entry)}`,
    );
  }
  console.log(`\n| MB, mean per member | ${cols.map((c) => c.title).join(" | ")} |`);
  console.log(`|---|${cols.map(() => "---").join("|")}|`);
  row("VmRSS", (s) => s.rss);
  row("Pss", (s) => s.pss);
  row("RssAnon", (s) => s.anon);
  row("RssFile", (s) => s.file);
  for (const k of Object.keys(samples[0].split) as (keyof Split)[]) {
    row(`RSS: ${k}`, (s) => s.split[k] / 1024);
  }
  const heapKeys = [...samples[0].heap.keys()];
  for (const k of heapKeys) row(`V8: ${k}`, (s) => s.heap.get(k) ?? NaN, 2);
  const threadNames = [...new Set(samples.flatMap((s) => [...s.threads.keys()]))];
  for (const t of threadNames) row(`threads: ${t}`, (s) => s.threads.get(t) ?? 0);
  row("open sockets", (s) => s.sockets);
  row("idle CPU, % of a core", (s) => s.idleCpu, 2);
  if (listMs.length) {
    console.log(
      `| one list request, CPU of the answering member (ms) | ${
        listMs.map((x) => x.toFixed(2)).join(" | ")
      } | |`,
    );
  }
}
