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
 * - each join request's duration (what `cohort init --token` waits for), median and slowest, and
 *   its part after the admitting member accepted the join (the time its "Admitted a new member"
 *   line gives, to the answer on the control socket or, with `--cli`, to the exit of the real
 *   `cohort init --token` process, which then makes every join), the joiner daemon's CPU time
 *   over that part (/proc, from when the bench read the admission line), the joiners' own step
 *   durations (the `*_ms` fields of their "Joined the cluster" lines: request, network start,
 *   preJoin, commit, online), and the claim rounds (that line's `confirm_ms`);
 * - the part after the admission cut into its pieces (`join_tail.ts`): the answer's way to the
 *   joiner (transfer), each of the joiner's steps after its request, and the reply (its line →
 *   the answer or the CLI's exit), median and most per run; the three slowest joins in full;
 * - after forming and a settle pause (`--settle`: long enough that connections opened while
 *   forming have closed or are kept for the probes, ≥ 60 s for the steady state), over the idle
 *   window: CPU per member (% of one core, utime+stime from /proc/PID/stat), connections dialled
 *   per member per minute (each a TLS handshake at both ends; `cohort_gossip_dials_total`) and
 *   open gossip connections, and at its end resident memory per member (VmRSS, split into
 *   RssAnon, the process's own, and RssFile, the mapped code every member on the host shares)
 *   with the V8 heap's used and committed size and its external memory (from the metrics);
 * - one `GET /core/1.0/cluster`'s cost to the member that answers (the admitting member's CPU
 *   over `--requests` sequential requests on its control socket, its idle CPU over the same time
 *   subtracted, per request).
 *
 * Optionally with `--busy K` CPU-bound loops (`sh -c 'while :; do :; done'`) running beside the cluster
 * the whole time, and `--cpu-prof DIR` to profile the admitting member and two joiners (the middle
 * one and the last one: `node --cpu-prof`; a profile is written when its member stops) and report
 * the admitting member's longest tasks (from the profile's samples: runs of consecutive non-idle
 * samples; `scripts/bench/long_tasks.ts FILE` lists any profile's long tasks and what ran in
 * them). With `--cpu-prof-all` every member is profiled, and each join's window from its
 * admission (the admitting member's line) to its answer (or the CLI's exit) is read from its
 * joiner's profile: the joiner's busy time in it, and for the slowest joins (and summed over all
 * joins) what took it (`profile_window.ts`). `--heap-snapshot DIR` writes the admitting member's V8 heap snapshot at the end of the
 * (first run's) idle window and prints what it holds (`heap_summary.ts`). Every suspicion is
 * listed as it was seen: when, who suspected whom, whose join was
 * under way.
 *
 * Wall-clock figures: the machine's load (`uptime`) is printed with them.
 *
 * Usage: `npm run build && node --import tsx scripts/bench/formation.ts
 *   [--members 25] [--runs 3] [--busy 0] [--idle 20] [--settle S] [--preset lan]
 *   [--cpu-prof DIR [--cpu-prof-all]] [--heap-snapshot DIR] [--dist DIR] [--requests 200] [--logs DIR]
 *   [--node-flags "FLAGS"] [--env "NAME=VALUE ..."] [--cli]` (`--dist`: the built daemon to run, default
 *   `dist/`; `--settle`: seconds from forming to the idle window, default the smaller of 5 and a
 *   quarter of `--idle`; `--node-flags`, `--env`: what every member runs with)
 * (issue 15's targets: `--members 25` and `--members 50`, each also with `--busy 2`).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { freePort } from "../../tests/helpers/process.ts";
import { longTasks, type Profile } from "./long_tasks.ts";
import { monotonicMs, type WindowCost, windowCost } from "./profile_window.ts";
import { summarise, takeHeapSnapshot } from "./heap_summary.ts";
import { scrape } from "./scrape.ts";
import { control } from "./control.ts";
import { type JoinTail, joinTail, tailSummary } from "./join_tail.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const { values: opts } = parseArgs({
  options: {
    members: { type: "string", default: "25" },
    runs: { type: "string", default: "3" },
    busy: { type: "string", default: "0" },
    idle: { type: "string", default: "20" },
    settle: { type: "string" },
    preset: { type: "string", default: "lan" },
    "cpu-prof": { type: "string" },
    "cpu-prof-all": { type: "boolean", default: false },
    "heap-snapshot": { type: "string" },
    "node-flags": { type: "string", default: "" },
    env: { type: "string", default: "" },
    dist: { type: "string" },
    requests: { type: "string", default: "200" },
    logs: { type: "string" },
    cli: { type: "boolean", default: false },
  },
});
/** Joins through the real `cohort init --token` process rather than the control socket. */
const CLI = opts.cli;
const N = Math.max(2, Math.min(200, Number(opts.members) || 25));
const RUNS = Math.max(1, Math.min(20, Number(opts.runs) || 3));
const BUSY = Math.max(0, Math.min(8, Number(opts.busy) || 0));
const IDLE_MS = Math.max(0, Number(opts.idle) || 0) * 1000;
/** From forming to the idle window: the last joins' work, and connections opened meanwhile. */
const SETTLE_MS = opts.settle === undefined
  ? Math.min(5000, IDLE_MS / 4)
  : Math.max(0, Number(opts.settle) || 0) * 1000;
const PRESET = opts.preset === "local" ? "local" : "lan";
/** Where every member's log is kept (`f<i>.log`), when asked. */
const LOG_DIR = opts.logs ? resolve(opts.logs) : undefined;
const REQUESTS = Math.max(0, Math.min(5000, Number(opts.requests) || 0));
const PROF_DIR = opts["cpu-prof"] ? resolve(opts["cpu-prof"]) : undefined;
/** Every member profiled, each join's window read from its joiner's profile. */
const PROF_ALL = PROF_DIR !== undefined && opts["cpu-prof-all"];
/** Wall clock (the members' log times) minus the host's monotonic clock (their profiles'), ms. */
const WALL_TO_MONO = performance.timeOrigin + performance.now() - monotonicMs();
const SNAPSHOT_DIR = opts["heap-snapshot"] ? resolve(opts["heap-snapshot"]) : undefined;
/** Node flags every member runs with (`--node-flags "--max-semi-space-size=1"`). */
const NODE_FLAGS = opts["node-flags"].split(/\s+/).filter(Boolean);
/** Environment variables every member gets (`--env "MALLOC_ARENA_MAX=2 A=B"`). */
const MEMBER_ENV = Object.fromEntries(
  opts.env.split(/\s+/).filter(Boolean).map((
    kv,
  ) => [kv.split("=")[0], kv.slice(kv.indexOf("=") + 1)]),
);
/** The built daemon to run (a copy of an older `dist/` compares before and after). */
const DIST = resolve(opts.dist ?? join(root, "dist"));

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const note = (s: string) => console.error(`[formation] ${s}`);
/** CPU time of a process so far (utime + stime), ms. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;
/** A field of /proc/PID/status in MB (`VmRSS`, `RssAnon`, `RssFile`). */
const statusMb = (pid: number, field: string) =>
  Number(
    new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ??
      NaN,
  ) / 1024;

const load = () =>
  spawnSync("uptime", { encoding: "utf8" }).stdout.trim().replace(/^.*load/, "load");

interface Event {
  t: number;
  observer: number;
  event: string;
  member: string;
  /** The joiner whose join request was under way (or last answered) then. */
  joining: number;
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
  cmd = process.execPath,
  stdoutFile?: string,
) {
  const child = spawn(cmd, [...nodeFlags, ...args], {
    // Standard output (a runtime's own traces, e.g. `--node-flags=--trace-gc`) is kept with the
    // logs when they are kept.
    stdio: ["ignore", LOG_DIR && stdoutFile ? "pipe" : "ignore", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  if (LOG_DIR && stdoutFile) {
    child.stdout!.on("data", (d: Buffer) => appendFileSync(join(LOG_DIR, stdoutFile), d));
  }
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
  /** Each join request's part after the admitting member logged its admission, ms. */
  afterAcceptMs: number[];
  /** The joiner daemon's CPU time over that part (from when its admission line was read), ms. */
  afterAcceptCpuMs: number[];
  /** The joiners' own step durations, by step (`request_ms`, `network_ms`, …), ms. */
  joinSteps: Map<string, number[]>;
  /** Each admitted join's claim round at the admitting member (`confirm_ms`), ms. */
  roundMs: number[];
  formSuspicions: number;
  /** Join requests refused for want of token confirmations, and tried again. */
  refusedJoins: number;
  idleSuspicions: number;
  dead: number;
  suspected: number;
  admitterShare: number;
  /** Idle CPU per member, % of one core (mean over the members). */
  idleCpu: number;
  /** Connections dialled per member per minute over the idle window (mean). */
  dialsPerMin: number;
  /** Open gossip connections per member (inbound + outbound) at the end of the window (mean). */
  connections: number;
  /** Resident memory per member at the end of the idle window, MB (mean). */
  rss: number;
  /** Its parts (MB, means): RssAnon, RssFile, V8 heap used and committed, external memory. */
  rssAnon: number;
  rssFile: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Daemon CPU per `GET /core/1.0/cluster`, ms. */
  listMs?: number;
  longestTasks?: number[];
  /** Each join's admission → answer in parts (`join_tail.ts`), in join order. */
  tails: { joiner: string; tail: JoinTail }[];
  /** With `--cpu-prof-all`: each join's admission → answer window in its joiner's profile. */
  joinProfiles?: { joiner: string; afterAcceptMs: number; cost: WindowCost }[];
}

async function oneRun(run: number): Promise<RunResult> {
  const events: Event[] = [];
  const dirs: string[] = [];
  const members: { name: string; dir: string; address: string; proc?: Proc }[] = [];
  const usedPorts = new Set<number>();
  const joinMs: number[] = [];
  const afterAcceptMs: number[] = [];
  const afterAcceptCpuMs: number[] = [];
  /** The joiner daemon's CPU time when its admission line was read, by joiner name. */
  const cpuAtAdmission = new Map<string, number>();
  /** The joiners' own step durations (their "Joined the cluster" lines' `*_ms`), by step. */
  const joinSteps = new Map<string, number[]>();
  const roundMs: number[] = [];
  /** When the admitting member logged each admission (its line's own time), by joiner name. */
  const admitted = new Map<string, number>();
  /** Each joiner's "Joined the cluster" line, parsed, by joiner name. */
  const joinedLines = new Map<string, Record<string, unknown>>();
  const tails: RunResult["tails"] = [];
  /** Each join's admission → answer, ms on the wall clock, by joiner index. */
  const windows = new Map<number, { from: number; to: number }>();
  for (let i = 0; i < N; i++) {
    const dir = mkdtempSync(join(tmpdir(), `cohort-form-${i}-`));
    dirs.push(dir);
    // A port free a moment ago may be handed out twice: every member gets its own.
    let port = await freePort();
    while (usedPorts.has(port)) port = await freePort();
    usedPorts.add(port);
    members.push({ name: `f${i}`, dir, address: `127.0.0.1:${port}` });
  }
  const api = (i: number, method: string, path: string, body?: unknown) =>
    control(members[i].dir, `f${i}`, method, path, body);
  const busy: Proc[] = [];
  let joining = 0;
  let refusedJoins = 0;
  try {
    for (let b = 0; b < BUSY; b++) {
      busy.push(startProc(["-c", "while :; do :; done"], {}, undefined, [], "sh"));
    }
    // Start every daemon (uninitialised) first: process start-up is not what is measured.
    const startOne = async (i: number) => {
      const m = members[i];
      // The admitting member, and two joiners (the middle one and the last one).
      const prof = PROF_DIR && (PROF_ALL || i === 0 || i === N - 1 || i === Math.floor(N / 2))
        ? [...NODE_FLAGS, "--cpu-prof", `--cpu-prof-dir=${PROF_DIR}/run${run}${i ? `/f${i}` : ""}`]
        : [...NODE_FLAGS];
      if (SNAPSHOT_DIR && i === 0 && run === 0) {
        prof.push("--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${SNAPSHOT_DIR}`);
      }
      m.proc = startProc(
        [
          join(DIST, "mod.js"),
          "daemon",
          "--state-dir",
          m.dir,
          "--gossip-preset",
          PRESET,
          "--extensions",
          "feature_a",
        ],
        { COHORT_LOG_LEVEL: "info", ...MEMBER_ENV },
        (line) => {
          if (LOG_DIR) appendFileSync(join(LOG_DIR, `f${i}.log`), `${line}\n`);
          if (i === 0 && line.includes('"Admitted a new member"')) {
            try {
              const e = JSON.parse(line) as { name: string; time: number; confirm_ms?: number };
              admitted.set(e.name, e.time);
              const joiner = members.find((m) => m.name === e.name)?.proc?.child.pid;
              if (joiner !== undefined) cpuAtAdmission.set(e.name, cpuMs(joiner));
              if (typeof e.confirm_ms === "number") roundMs.push(e.confirm_ms);
            } catch { /* a partial line */ }
            return;
          }
          if (i > 0 && line.includes('"Joined the cluster"')) {
            try {
              const e = JSON.parse(line) as Record<string, unknown>;
              joinedLines.set(members[i].name, e);
              for (const [k, v] of Object.entries(e)) {
                if (!k.endsWith("_ms") || typeof v !== "number") continue;
                if (!joinSteps.has(k)) joinSteps.set(k, []);
                joinSteps.get(k)!.push(v);
              }
            } catch { /* a partial line */ }
            return;
          }
          if (!line.includes('"Membership event"')) return;
          try {
            const e = JSON.parse(line) as { event: string; member: string };
            events.push({ t: now(), observer: i, event: e.event, member: e.member, joining });
          } catch { /* a partial line */ }
        },
        prof,
        process.execPath,
        `f${i}.out`,
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
      joining = i;
      let token = await api(0, "POST", "/core/control/tokens", { name: members[i].name });
      const started = now();
      // A join refused because too few members confirmed the token in time (a loaded machine)
      // is tried again, as its message tells the operator to: counted, not fatal.
      for (let attempt = 1;; attempt++) {
        try {
          if (CLI) await cliJoin(members[i], token as string);
          else {
            await api(i, "POST", "/core/control", {
              bootstrap: false,
              name: members[i].name,
              address: members[i].address,
              join_token: token,
            });
          }
          break;
        } catch (err) {
          // A retry whose earlier attempt went through after all: the member has joined.
          if (attempt > 1 && /already (initiali[sz]ed|a member)/i.test(String(err))) break;
          // A join that gave up at its deadline (no member answered in time) was withdrawn: it is
          // run again with a fresh token, as its message tells the operator to. So is one whose
          // command got no answer in time (the joiner's event loop held: a synchronous fsync of
          // its mark took 40 s under a loaded disk, in 2 of 9 runs at N = 50).
          const fresh =
            /claimed by another join|already used or has been revoked|Join gave up|no join address could be reached|no answer within/
              .test(String(err));
          if (attempt >= 5 || (!fresh && !/must confirm the token/.test(String(err)))) throw err;
          refusedJoins++;
          note(`run ${run}: f${i}'s join refused (${attempt}), trying again: ${load()}`);
          // The retry presents another certificate: the first attempt's claim holds the token
          // (its message says to revoke it and issue another).
          if (fresh) {
            // None left: a join that gave up may have been admitted after all (token used).
            await api(0, "DELETE", `/core/control/tokens/${members[i].name}`).catch((e) =>
              note(`run ${run}: f${i}'s token: ${e}`)
            );
            token = await api(0, "POST", "/core/control/tokens", { name: members[i].name });
          }
          await sleep(2000);
        }
      }
      const done = now();
      joinMs.push(done - started);
      const at = admitted.get(members[i].name);
      if (at !== undefined) {
        afterAcceptMs.push(done - at);
        windows.set(i, { from: at, to: done });
        // The joiner's line is read from its pipe, possibly a moment after the answer.
        for (let k = 0; k < 40 && !joinedLines.has(members[i].name); k++) await sleep(25);
        const line = joinedLines.get(members[i].name);
        if (line) tails.push({ joiner: members[i].name, tail: joinTail(at, line, done) });
      }
      const cpu0 = cpuAtAdmission.get(members[i].name);
      if (cpu0 !== undefined) afterAcceptCpuMs.push(cpuMs(members[i].proc!.child.pid!) - cpu0);
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
    const pids = members.map((m) => m.proc!.child.pid!);
    // The first seconds after forming still carry the last joins' work: idle is measured after.
    await sleep(SETTLE_MS);
    // Scraped outside the window: a scrape costs the member more than a second of idling.
    const dials = (m: Map<string, number>) => m.get("cohort_gossip_dials_total") ?? NaN;
    const before = await Promise.all(members.map((m) => scrape(m.dir)));
    const cpu0 = pids.map(cpuMs);
    const idle0 = now();
    await sleep(Math.max(0, IDLE_MS - (opts.settle === undefined ? SETTLE_MS : 0)));
    const end = now();
    const idleCpu = pids.map((p, k) => (100 * (cpuMs(p) - cpu0[k])) / (end - idle0));
    const mem = (field: string) => pids.map((p) => statusMb(p, field));
    const [rss, rssAnon, rssFile] = ["VmRSS", "RssAnon", "RssFile"].map(mem);
    const after = await Promise.all(members.map((m) => scrape(m.dir)));
    if (SNAPSHOT_DIR && run === 0) await heapSnapshot(pids[0]);
    const dialsPerMin = after.map((m, k) => (dials(m) - dials(before[k])) * 60_000 / (end - idle0));
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const metric = (name: string, scale = 1) =>
      mean(after.map((m) => (m.get(name) ?? NaN) / scale));
    let listMs: number | undefined;
    if (REQUESTS > 0) {
      const c0 = cpuMs(pids[0]);
      const t = now();
      for (let k = 0; k < REQUESTS; k++) await api(0, "GET", "/core/1.0/cluster");
      const used = cpuMs(pids[0]) - c0 - (idleCpu[0] / 100) * (now() - t);
      listMs = used / REQUESTS;
    }
    const suspects = events.filter((e) => e.event === "member-suspect");
    const admitter = members[0].name;
    // Who suspected whom and when, to find the cause in the members' logs (--logs).
    for (const e of events) {
      if (e.event !== "member-suspect" && e.event !== "member-failed") continue;
      note(
        `run ${run}: +${((e.t - t0) / 1000).toFixed(2)} s ${e.event} f${e.observer} → ` +
          `${e.member}${e.t > formed ? " (idle)" : ` (while f${e.joining} joined)`}`,
      );
    }
    const res: RunResult = {
      formMs: formed - t0,
      joinMs,
      afterAcceptMs,
      afterAcceptCpuMs,
      tails,
      joinSteps,
      roundMs,
      formSuspicions: suspects.filter((e) => e.t <= formed).length,
      refusedJoins,
      idleSuspicions: suspects.filter((e) => e.t > formed && e.t <= end).length,
      dead: events.filter((e) => e.event === "member-failed").length,
      suspected: new Set(suspects.map((e) => e.member)).size,
      admitterShare: suspects.length
        ? suspects.filter((e) => e.member === admitter).length / suspects.length
        : 0,
      idleCpu: idleCpu.reduce((a, b) => a + b, 0) / N,
      dialsPerMin: mean(dialsPerMin),
      connections: metric('cohort_gossip_connections{direction="inbound"}') +
        metric('cohort_gossip_connections{direction="outbound"}'),
      rss: mean(rss),
      rssAnon: mean(rssAnon),
      rssFile: mean(rssFile),
      heapUsed: metric("nodejs_heap_size_used_bytes", 2 ** 20),
      heapTotal: metric("nodejs_heap_size_total_bytes", 2 ** 20),
      external: metric("nodejs_external_memory_bytes", 2 ** 20),
      ...(listMs !== undefined ? { listMs } : {}),
    };
    if (!joinedEverywhere()) note(`run ${run}: the cluster did not form within 60 s`);
    await stop(members[0].proc);
    if (PROF_DIR) res.longestTasks = longestTasks(join(PROF_DIR, `run${run}`));
    if (PROF_ALL) {
      // A profile is written when its member exits.
      await Promise.all(members.map((m) => stop(m.proc)));
      res.joinProfiles = [];
      for (const [i, w] of windows) {
        const prof = newestProfile(join(PROF_DIR!, `run${run}`, `f${i}`));
        if (!prof) continue;
        const us = (wall: number) => (wall - WALL_TO_MONO) * 1000;
        res.joinProfiles.push({
          joiner: members[i].name,
          afterAcceptMs: w.to - w.from,
          cost: windowCost(prof, us(w.from), us(w.to)),
        });
      }
    }
    return res;
  } finally {
    await Promise.all(members.map((m) => stop(m.proc)));
    await Promise.all(busy.map(stop));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

/**
 * `cohort init NAME ADDRESS --token-file … --state-dir DIR`, the real command (`dist/cli.cjs`):
 * resolves when it exited 0, throws its standard error otherwise.
 */
function cliJoin(m: { name: string; dir: string; address: string }, token: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(DIST, "cli.cjs"), "init", m.name, m.address, "--token", "-", "--state-dir", m.dir],
      { stdio: ["pipe", "ignore", "pipe"], env: { ...process.env, NO_COLOR: "1" } },
    );
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => code === 0 ? resolve() : reject(new Error(stderr.trim())));
    child.stdin!.end(token);
  });
}

/** Has member `pid` write its heap snapshot into SNAPSHOT_DIR, and prints what it holds. */
async function heapSnapshot(pid: number): Promise<void> {
  const file = await takeHeapSnapshot(pid, SNAPSHOT_DIR!);
  if (!file) return note("no heap snapshot written");
  const { total, byKind, byName } = summarise(
    JSON.parse(readFileSync(join(SNAPSHOT_DIR!, file), "utf8")),
  );
  const mb = (b: number) => (b / 2 ** 20).toFixed(2);
  note(`heap snapshot of f0 (${join(SNAPSHOT_DIR!, file)}): ${mb(total)} MB in objects`);
  for (const [kind, bytes] of [...byKind].sort((a, b) => b[1] - a[1])) {
    note(`  ${kind}: ${mb(bytes)} MB`);
  }
  for (
    const [name, { bytes, count }] of [...byName].sort((a, b) => b[1].bytes - a[1].bytes)
      .slice(0, 20)
  ) {
    note(`  ${name}: ${mb(bytes)} MB (${count})`);
  }
}

/** The newest `.cpuprofile` of `dir`, if any. */
function newestProfile(dir: string): Profile | undefined {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  } catch {
    return undefined;
  }
  // A profile cut short (its member killed while writing it, under load) is passed over.
  for (const file of files.sort().reverse()) {
    try {
      return JSON.parse(readFileSync(join(dir, file), "utf8"));
    } catch {
      note(`${join(dir, file)}: not a whole profile, passed over`);
    }
  }
  return undefined;
}

/** The longest tasks (ms) in the newest `.cpuprofile` of `dir` (see `long_tasks.ts`). */
function longestTasks(dir: string): number[] {
  const prof = newestProfile(dir);
  return prof ? longTasks(prof).slice(0, 5).map((t) => t.ms) : [];
}

/** With `--cpu-prof-all`: the slowest joins' windows, and what took the joiners' time in all. */
function reportJoinProfiles(run: number, joins: NonNullable<RunResult["joinProfiles"]>): void {
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  const list = (l: [string, number][], k = 5) =>
    l.slice(0, k).map(([f, v]) => `${ms(v)} ${f}`).join("; ");
  for (const j of [...joins].sort((a, b) => b.afterAcceptMs - a.afterAcceptMs).slice(0, 5)) {
    note(
      `run ${run}: ${j.joiner} admission → answer ${ms(j.afterAcceptMs)}, profiled ` +
        `${ms(j.cost.ms)}, busy ${ms(j.cost.busy)}\n    self: ${list(j.cost.self)}\n    ` +
        `inner: ${list(j.cost.inner)}\n    outer: ${list(j.cost.outer, 3)}`,
    );
  }
  const sum = (pick: (c: WindowCost) => [string, number][]) => {
    const m = new Map<string, number>();
    for (const j of joins) for (const [f, v] of pick(j.cost)) m.set(f, (m.get(f) ?? 0) + v);
    return [...m].sort((a, b) => b[1] - a[1]);
  };
  note(
    `run ${run}: all ${joins.length} joins' windows, busy ${
      ms(joins.reduce((a, j) => a + j.cost.busy, 0))
    } of ${ms(joins.reduce((a, j) => a + j.cost.ms, 0))}\n    self: ${
      list(sum((c) => c.self), 10)
    }\n    inner: ${list(sum((c) => c.inner), 10)}`,
  );
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
if (SNAPSHOT_DIR) mkdirSync(SNAPSHOT_DIR, { recursive: true });
if (LOG_DIR) mkdirSync(LOG_DIR, { recursive: true });
const loadBefore = load();
const results: RunResult[] = [];
try {
  for (let r = 0; r < RUNS; r++) {
    const res = await oneRun(r);
    results.push(res);
    if (res.joinProfiles) reportJoinProfiles(r, res.joinProfiles);
    const slowest = [...res.tails].sort((a, b) => b.tail.total - a.tail.total).slice(0, 3);
    for (const { joiner, tail } of slowest) {
      note(
        `run ${r}: ${joiner} admission → answer: ${
          Object.entries(tail).map(([p, v]) => `${p} ${v.toFixed(0)}`).join(", ")
        } ms`,
      );
    }
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
  `\nFormation of ${N} real members (serial joins ${
    CLI ? "by `cohort init --token`" : "on the control socket"
  }), ${PRESET} preset, ` +
    `${BUSY} busy loop(s), ${RUNS} run(s), idle window ${IDLE_MS / 1000} s` +
    (opts.settle === undefined ? "" : ` after ${SETTLE_MS / 1000} s`) +
    (NODE_FLAGS.length ? `, node ${NODE_FLAGS.join(" ")}` : "") +
    (opts.env ? `, env ${opts.env}` : ""),
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
row(
  "join request after its admission was logged, median over a run's joins (s)",
  results.map((r) => median(r.afterAcceptMs) / 1000),
  2,
);
row(
  "join request after its admission was logged, the slowest of a run (s)",
  results.map((r) => Math.max(...r.afterAcceptMs) / 1000),
  2,
);
row(
  "joiner daemon's CPU over that part, median over a run's joins (ms)",
  results.map((r) => median(r.afterAcceptCpuMs)),
);
row(
  "joiner daemon's CPU over that part, the most of a run (ms)",
  results.map((r) => Math.max(...r.afterAcceptCpuMs)),
);
for (const step of new Set(results.flatMap((r) => [...r.joinSteps.keys()]))) {
  row(
    `joiner's step ${step} (its "Joined the cluster" line), median over a run's joins`,
    results.map((r) => median(r.joinSteps.get(step) ?? [])),
  );
  row(
    `joiner's step ${step}, the slowest of a run`,
    results.map((r) => Math.max(...(r.joinSteps.get(step) ?? [NaN]))),
  );
}
// Admission → answer in parts (join_tail.ts): the answer's way to the joiner, its steps, the reply.
for (const [part] of tailSummary(results.flatMap((r) => r.tails.map((t) => t.tail)))) {
  const of = (r: RunResult) => tailSummary(r.tails.map((t) => t.tail)).find(([p]) => p === part);
  row(
    `admission → answer, part ${part}, median over a run's joins (ms)`,
    results.map((r) => of(r)?.[1] ?? NaN),
  );
  row(
    `admission → answer, part ${part}, the most of a run (ms)`,
    results.map((r) => of(r)?.[2] ?? NaN),
  );
}
row(
  "claim round at the admitting member (confirm_ms), median over a run's joins (ms)",
  results.map((r) => median(r.roundMs)),
);
row(
  "claim round at the admitting member, the slowest of a run (ms)",
  results.map((r) => Math.max(...r.roundMs)),
);
row("suspicions while forming (events, all observers)", results.map((r) => r.formSuspicions));
row(`suspicions while idle ${IDLE_MS / 1000} s`, results.map((r) => r.idleSuspicions));
row("members suspected at least once", results.map((r) => r.suspected));
row("admitting member's share of suspicions (%)", results.map((r) => 100 * r.admitterShare));
row("false dead verdicts", results.map((r) => r.dead));
row(
  "joins refused (too few token confirmations in time) and tried again",
  results.map((r) => r.refusedJoins),
);
row("idle CPU per member (% of one core)", results.map((r) => r.idleCpu), 2);
row("connections dialled per member per minute, idle", results.map((r) => r.dialsPerMin), 1);
row("open gossip connections per member, idle", results.map((r) => r.connections), 1);
row("resident memory per idle member, VmRSS (MB)", results.map((r) => r.rss), 1);
row("  of which RssAnon, the process's own (MB)", results.map((r) => r.rssAnon), 1);
row(
  "  of which RssFile, mapped code shared by every member (MB)",
  results.map((r) => r.rssFile),
  1,
);
row("  V8 heap used (MB)", results.map((r) => r.heapUsed), 1);
row("  V8 heap committed (MB)", results.map((r) => r.heapTotal), 1);
row(
  "  external memory (Buffers, native objects V8 knows of) (MB)",
  results.map((r) => r.external),
  1,
);
if (REQUESTS > 0) {
  row(
    `one GET /core/1.0/cluster, daemon CPU (ms, over ${REQUESTS} requests)`,
    results.map((r) => r.listMs ?? NaN),
    2,
  );
}
if (PROF_ALL) {
  const busy = (r: RunResult) => r.joinProfiles?.map((j) => j.cost.busy) ?? [];
  row(
    "joiner busy (its profile) from admission to answer, median of a run (ms)",
    results.map((r) => median(busy(r))),
  );
  row(
    "joiner busy from admission to answer, the most of a run (ms)",
    results.map((r) => Math.max(...busy(r))),
  );
}
if (PROF_DIR) {
  row(
    "admitting member's longest task (ms, from its CPU profile)",
    results.map((r) => r.longestTasks?.[0] ?? NaN),
  );
}
