/**
 * Benchmark: suspicions of healthy members while a loopback cluster of real members forms
 * (issue 15, "no false suspicions while a cluster forms or idles"). Per run: N daemons start,
 * the first bootstraps, the others join it one after the other (token from the first member,
 * then the join request on the joiner's control socket, what `cohort init --token` sends),
 * then the cluster idles for a while. Every member's "Membership event" log lines are read as
 * they arrive; the figures:
 *
 * - suspicions: `member-suspect` events about any member (every member is healthy here), summed
 *   over the observers, during the formation and during the idle window;
 * - false `dead`: `member-failed` events (none may happen);
 * - members suspected at least once, and the admitting member's share of the suspicions;
 * - the formation time (first join request to the last join visible on every member);
 * - each join request's duration (what `cohort init --token` waits for), median and slowest.
 *
 * Optionally with `--busy K` CPU-bound loops (`node -e 'for(;;){}'`) running beside the cluster
 * the whole time, and `--cpu-prof DIR` to profile the admitting member (`node --cpu-prof`; the
 * profile is written when it stops) and report its longest tasks (from the profile's samples:
 * runs of consecutive non-idle samples).
 *
 * Wall-clock figures: the machine's load (`uptime`) is printed with them.
 *
 * Usage: `npm run build && node --import tsx scripts/bench/formation.ts
 *   [--members 25] [--runs 3] [--busy 0] [--idle 20] [--preset lan] [--cpu-prof DIR]`
 * (issue 15's targets: `--members 25` and `--members 50`, each also with `--busy 2`).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { requestJson } from "../../lib/net/client.ts";
import { freePort } from "../../tests/helpers/process.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const { values: opts } = parseArgs({
  options: {
    members: { type: "string", default: "25" },
    runs: { type: "string", default: "3" },
    busy: { type: "string", default: "0" },
    idle: { type: "string", default: "20" },
    preset: { type: "string", default: "lan" },
    "cpu-prof": { type: "string" },
  },
});
const N = Math.max(2, Math.min(200, Number(opts.members) || 25));
const RUNS = Math.max(1, Math.min(20, Number(opts.runs) || 3));
const BUSY = Math.max(0, Math.min(8, Number(opts.busy) || 0));
const IDLE_MS = Math.max(0, Number(opts.idle) || 0) * 1000;
const PRESET = opts.preset === "local" ? "local" : "lan";
const PROF_DIR = opts["cpu-prof"] ? resolve(opts["cpu-prof"]) : undefined;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const note = (s: string) => console.error(`[formation] ${s}`);
const load = () =>
  spawnSync("uptime", { encoding: "utf8" }).stdout.trim().replace(/^.*load/, "load");

interface Event {
  t: number;
  observer: number;
  event: string;
  member: string;
}

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
}

const procs = new Set<Proc>();

function startProc(
  args: string[],
  env: Record<string, string>,
  onLine?: (l: string) => void,
  nodeFlags: string[] = [],
) {
  const child = spawn(process.execPath, [...nodeFlags, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  const p: Proc = { child, exited: new Promise((r) => child.once("close", () => r())) };
  procs.add(p);
  void p.exited.then(() => procs.delete(p));
  let rest = "";
  child.stderr!.on("data", (d: Buffer) => {
    const parts = (rest + d.toString()).split("\n");
    rest = parts.pop()!;
    if (onLine) { for (const l of parts) onLine(l); }
  });
  return p;
}

async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill("SIGTERM");
  const t = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
  await p.exited;
  clearTimeout(t);
}

async function stopAll(): Promise<void> {
  await Promise.all([...procs].map(stop));
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => void stopAll().then(() => process.exit(130)));
}

interface RunResult {
  formMs: number;
  /** Each join request's duration (what `init --token` waits for), ms. */
  joinMs: number[];
  formSuspicions: number;
  idleSuspicions: number;
  dead: number;
  suspected: number;
  admitterShare: number;
  longestTasks?: number[];
}

async function oneRun(run: number): Promise<RunResult> {
  const events: Event[] = [];
  const dirs: string[] = [];
  const members: { name: string; dir: string; address: string; proc?: Proc }[] = [];
  const usedPorts = new Set<number>();
  const joinMs: number[] = [];
  for (let i = 0; i < N; i++) {
    const dir = mkdtempSync(join(tmpdir(), `cohort-form-${i}-`));
    dirs.push(dir);
    // A port free a moment ago may be handed out twice: every member gets its own.
    let port = await freePort();
    while (usedPorts.has(port)) port = await freePort();
    usedPorts.add(port);
    members.push({ name: `f${i}`, dir, address: `127.0.0.1:${port}` });
  }
  const api = async (i: number, method: string, path: string, body?: unknown) => {
    const r = await requestJson({
      method,
      path,
      body,
      socketPath: join(members[i].dir, "control.socket"),
      timeoutMs: 60_000,
    });
    if (r.status >= 400) throw new Error(`${method} ${path} on f${i}: ${JSON.stringify(r.body)}`);
    return (r.body as { metadata: unknown }).metadata;
  };
  const busy: Proc[] = [];
  try {
    for (let b = 0; b < BUSY; b++) busy.push(startProc(["-e", "for(;;){}"], {}));
    // Start every daemon (uninitialised) first: process start-up is not what is measured.
    const startOne = async (i: number) => {
      const m = members[i];
      const prof = i === 0 && PROF_DIR
        ? ["--cpu-prof", `--cpu-prof-dir=${PROF_DIR}/run${run}`]
        : [];
      m.proc = startProc(
        [
          join(root, "dist/mod.js"),
          "daemon",
          "--state-dir",
          m.dir,
          "--gossip-preset",
          PRESET,
          "--extensions",
          "feature_a",
        ],
        { COHORT_LOG_LEVEL: "info" },
        (line) => {
          if (!line.includes('"Membership event"')) return;
          try {
            const e = JSON.parse(line) as { event: string; member: string };
            events.push({ t: now(), observer: i, event: e.event, member: e.member });
          } catch { /* a partial line */ }
        },
        prof,
      );
      for (let k = 0; k < 1200; k++) {
        try {
          await api(i, "GET", "/core/1.0");
          return;
        } catch {
          await sleep(50);
        }
      }
      throw new Error(`f${i} did not open its control socket`);
    };
    // Five at a time: 50 processes starting at once on 2 cores take longer than any timeout.
    for (let i = 0; i < N; i += 5) {
      await Promise.all(members.slice(i, i + 5).map((_, k) => startOne(i + k)));
    }
    await api(0, "POST", "/core/control", {
      bootstrap: true,
      name: members[0].name,
      address: members[0].address,
    });
    const t0 = now();
    for (let i = 1; i < N; i++) {
      const token = await api(0, "POST", "/core/control/tokens", { name: members[i].name });
      const started = now();
      await api(i, "POST", "/core/control", {
        bootstrap: false,
        name: members[i].name,
        address: members[i].address,
        join_token: token,
      });
      joinMs.push(now() - started);
    }
    // Formed: every member logged every other member's join (or knew it from its start state).
    const joinedEverywhere = () => {
      const seen = new Set<string>();
      for (const e of events) if (e.event === "member-join") seen.add(`${e.observer} ${e.member}`);
      for (let o = 0; o < N; o++) {
        for (let m = 0; m < N; m++) {
          if (o !== m && !seen.has(`${o} ${members[m].name}`)) return false;
        }
      }
      return true;
    };
    for (let k = 0; k < 1200 && !joinedEverywhere(); k++) await sleep(50);
    const formed = now();
    await sleep(IDLE_MS);
    const end = now();
    const suspects = events.filter((e) => e.event === "member-suspect");
    const admitter = members[0].name;
    const res: RunResult = {
      formMs: formed - t0,
      joinMs,
      formSuspicions: suspects.filter((e) => e.t <= formed).length,
      idleSuspicions: suspects.filter((e) => e.t > formed && e.t <= end).length,
      dead: events.filter((e) => e.event === "member-failed").length,
      suspected: new Set(suspects.map((e) => e.member)).size,
      admitterShare: suspects.length
        ? suspects.filter((e) => e.member === admitter).length / suspects.length
        : 0,
    };
    if (!joinedEverywhere()) note(`run ${run}: the cluster did not form within 60 s`);
    await stop(members[0].proc);
    if (PROF_DIR) res.longestTasks = longestTasks(join(PROF_DIR, `run${run}`));
    return res;
  } finally {
    await Promise.all(members.map((m) => stop(m.proc)));
    await Promise.all(busy.map(stop));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

/**
 * The longest runs of consecutive busy samples (ms) in the newest `.cpuprofile` of `dir`: an
 * approximation of the longest tasks on the member's event loop.
 */
function longestTasks(dir: string): number[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  } catch {
    return [];
  }
  if (files.length === 0) return [];
  const prof = JSON.parse(readFileSync(join(dir, files.sort().at(-1)!), "utf8")) as {
    nodes: { id: number; callFrame: { functionName: string } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const idle = new Set(
    prof.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id),
  );
  const runs: number[] = [];
  let cur = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = (prof.timeDeltas[i] ?? 0) / 1000;
    if (idle.has(prof.samples[i])) {
      if (cur > 0) runs.push(cur);
      cur = 0;
    } else cur += dt;
  }
  if (cur > 0) runs.push(cur);
  return runs.sort((a, b) => b - a).slice(0, 5);
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const spread = (v: number[], digits = 0) =>
  `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}–${
    Math.max(...v).toFixed(digits)
  })`;

if (PROF_DIR) mkdirSync(PROF_DIR, { recursive: true });
const loadBefore = load();
const results: RunResult[] = [];
try {
  for (let r = 0; r < RUNS; r++) {
    const res = await oneRun(r);
    results.push(res);
    note(
      `run ${r}: formed in ${(res.formMs / 1000).toFixed(1)} s, suspicions ${res.formSuspicions} ` +
        `forming + ${res.idleSuspicions} idle, dead ${res.dead}` +
        (res.longestTasks
          ? `, admitter's longest tasks ${res.longestTasks.map((t) => t.toFixed(0)).join(", ")} ms`
          : ""),
    );
  }
} finally {
  await stopAll();
}
console.log(
  `\nFormation of ${N} real members (serial joins on the control socket), ${PRESET} preset, ` +
    `${BUSY} busy loop(s), ${RUNS} run(s), idle window ${IDLE_MS / 1000} s`,
);
console.log(`load before: ${loadBefore}; after: ${load()}\n`);
console.log("| figure | median (min–max) |");
console.log("|---|---|");
const row = (label: string, v: number[], digits = 0) =>
  console.log(`| ${label} | ${spread(v, digits)} |`);
row(
  "formation, first join request → last join seen everywhere (s)",
  results.map((r) => r.formMs / 1000),
  1,
);
row(
  "join request (what `init --token` waits for), median over a run's joins (s)",
  results.map((r) => median(r.joinMs) / 1000),
  2,
);
row(
  "join request, the slowest of a run (s)",
  results.map((r) => Math.max(...r.joinMs) / 1000),
  2,
);
row("suspicions while forming (events, all observers)", results.map((r) => r.formSuspicions));
row(`suspicions while idle ${IDLE_MS / 1000} s`, results.map((r) => r.idleSuspicions));
row("members suspected at least once", results.map((r) => r.suspected));
row("admitting member's share of suspicions (%)", results.map((r) => 100 * r.admitterShare));
row("false dead verdicts", results.map((r) => r.dead));
if (PROF_DIR) {
  row(
    "admitting member's longest task (ms, from its CPU profile)",
    results.map((r) => r.longestTasks?.[0] ?? NaN),
  );
}
