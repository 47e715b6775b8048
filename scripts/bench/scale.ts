/**
 * Benchmark: N real members on this machine (default 50; 100 if memory and time allow), cohort
 * beside serf at the same N in the same run, runs alternating which system goes first (issue 15,
 * "real-process scale"). Per run and system, on 127.0.0.1 only, `lan` timing on both sides:
 *
 * - forming: cohort: N daemons started (uninitialised), the first bootstrapped and every other
 *   joined through the CLI, as an operator does it (`cohort tokens add NAME` on the first member,
 *   then `cohort init NAME ADDRESS --token -` on the joiner, the token on standard input, one
 *   after the other); serf: N−1 agents started with `-join` to the first;
 * - last join visible on every member: from the last join (cohort: its `init --token` started;
 *   serf: its agent spawned) until every other member logged it joined; cohort's `init --token`
 *   duration is given too (median over the joins, and the last one); then the same join from the
 *   first member that logged it (cohort: the admitting member, as it admits; serf: the member the
 *   joiner synced with) to the last, the dissemination without the joiner's own start, and the
 *   CPU each other member spent over the join beyond its idle rate (threads' run time, the rate
 *   read over the 3 s before the join);
 * - idle, after a settle pause (`--settle`, default 5 s; ≥ 60 s for the steady state, once the
 *   connections opened while forming have closed or are kept for the probes), over a window
 *   before anything scraped a member, then over a second one after a scrape (which starts
 *   cohort's process metrics, as Prometheus does): CPU per member (% of one core, the threads'
 *   run time from /proc/PID/task/TID/schedstat, in ns; beside it utime+stime from
 *   /proc/PID/stat, in 10 ms ticks, as this benchmark reported before), resident memory per member
 *   (VmRSS) and its proportional share (Pss from /proc/PID/smaps_rollup: pages shared between
 *   members, such as the runtime's own code, are split between them), open sockets per member
 *   (its file descriptors: cohort's gossip connections, one per pair of members, and its
 *   listeners; serf's TCP and UDP sockets); for cohort also the
 *   connections each member dialled per minute (each a TLS handshake at both ends);
 * - one list request's cost to the member that answers (daemon CPU, idle CPU over the same time
 *   subtracted, averaged over `--requests` sequential requests, its first ones and again after
 *   3 × as many more): cohort `GET /core/1.0/cluster` on the control socket, a fresh
 *   connection each, serf `serf members -format=json` over its RPC;
 * - kill -9 of the last member, then kill -STOP of another: time until every survivor logged it
 *   failed (cohort: `member-failed`; serf: `EventMemberFailed`), and until the first member
 *   logged a suspicion of it or a failed verdict;
 * - false positives: suspicions and failed verdicts of healthy members (every member while
 *   forming and idling; during the kills, any member but the victims).
 *
 * Times come from every member's log lines, stamped as this process reads them. The machine's
 * load (`uptime`) is printed with the table: every figure here is wall-clock and CPU on a shared
 * 2-core machine; CPU and memory figures need a quiet machine to compare with other runs.
 *
 * Usage: `npm run build && node --import tsx scripts/bench/scale.ts [--members 50] [--runs 1]
 *   [--systems serf,cohort] [--idle 20] [--settle 5] [--requests 200] [--logs DIR] [--dist DIR]
 *   [--pre-stall S]`
 * (`--pre-stall`: the kill -STOP victim is stopped for S seconds once the cluster formed, before
 * the idle window, so that it is suspected and refutes, and its real stop comes 40 s after it
 * ran again: a member suspected while forming, then stopped; default 0, no such stall)
 * (`--dist`: the built daemon to run, default `dist/`: an A/B run keeps a copy of each build)
 * (`--logs`: every member's log lines, each prefixed with the time this process read it, are
 * kept in `DIR/<system>-<run>/<member>.log`, with `marks.json` giving the times the figures
 * start from: to follow a join or a kill hop by hop).
 * Installs serf (`apt-get install -y serf`) when it is missing.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { requestJson } from "../../lib/net/client.ts";
import { freePort } from "../../tests/helpers/process.ts";
import { threadRunMs } from "./run_time.ts";
import { scrape } from "./scrape.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const { values: opts } = parseArgs({
  options: {
    members: { type: "string", default: "50" },
    runs: { type: "string", default: "1" },
    systems: { type: "string", default: "serf,cohort" },
    idle: { type: "string", default: "20" },
    settle: { type: "string", default: "5" },
    "pre-stall": { type: "string", default: "0" },
    requests: { type: "string", default: "200" },
    logs: { type: "string" },
    dist: { type: "string" },
  },
});
const N = Math.max(3, Math.min(200, Number(opts.members) || 50));
const RUNS = Math.max(1, Math.min(10, Number(opts.runs) || 1));
const SYSTEMS = opts.systems.split(",").filter((s) => s === "serf" || s === "cohort") as Kind[];
const IDLE_MS = Math.max(5, Math.min(300, Number(opts.idle) || 20)) * 1000;
const SETTLE_MS = Math.max(0, Math.min(600, Number(opts.settle) || 0)) * 1000;
const PRE_STALL_MS = Math.max(0, Math.min(30, Number(opts["pre-stall"]) || 0)) * 1000;
const REQUESTS = Math.max(10, Math.min(5000, Number(opts.requests) || 200));
const LOG_DIR = opts.logs ? resolve(opts.logs) : undefined;
const SERF_BIND = 24000;
const SERF_RPC = 24400;
const DIST = resolve(opts.dist ?? join(root, "dist"));
const CLI = join(DIST, "cli.cjs");
const MOD = join(DIST, "mod.js");

type Kind = "serf" | "cohort";
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const note = (s: string) => console.error(`[scale] ${s}`);
const load = () =>
  spawnSync("uptime", { encoding: "utf8" }).stdout.trim().replace(/^.*load/, "load");

interface Proc {
  child: ChildProcess;
  lines: { t: number; text: string }[];
  exited: Promise<void>;
}
const procs = new Set<Proc>();

function startProc(cmd: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(cmd, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  const p: Proc = {
    child,
    lines: [],
    exited: new Promise((r) => child.once("close", () => r())),
  };
  procs.add(p);
  void p.exited.then(() => procs.delete(p));
  let rest = "";
  const read = (d: Buffer) => {
    const t = now();
    const parts = (rest + d.toString()).split("\n");
    rest = parts.pop()!;
    for (const text of parts) p.lines.push({ t, text });
  };
  child.stdout!.on("data", read);
  child.stderr!.on("data", read);
  return p;
}

async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  try {
    process.kill(p.child.pid!, "SIGCONT");
  } catch { /* gone */ }
  p.child.kill("SIGTERM");
  const t = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
  await p.exited;
  clearTimeout(t);
}
const stopAll = () => Promise.all([...procs].map(stop));
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => void stopAll().then(() => process.exit(130)));
}

/** Runs a command to completion: exit code, output, and how long it took (ms). */
function run(cmd: string, args: string[], input = "") {
  return new Promise<{ code: number; stdout: string; stderr: string; ms: number }>((done) => {
    const t0 = now();
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr, ms: now() - t0 }));
    // A command that exits without reading its input (serf members) closes the pipe first.
    child.stdin!.on("error", () => {});
    if (input) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

/** CPU time of a process so far (utime + stime), ms, in the kernel's 10 ms ticks. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}
/** Open sockets of a process (TCP, UDP, unix), from its file descriptors. */
function sockets(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}
function memKb(pid: number): { rss: number; pss: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  let pss = NaN;
  try {
    pss = Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1]);
  } catch { /* no smaps_rollup */ }
  return { rss, pss };
}

interface Member {
  name: string;
  proc?: Proc;
  dir?: string;
  address?: string;
}

/** One system's cluster. */
interface Cluster {
  members: Member[];
  /**
   * Forms the cluster; resolves with the last join's start and the init durations (cohort).
   * `mark` is called 3 s before the last join starts ("idle") and just as it starts
   * ("last"), with every member but the last one running.
   */
  form(
    mark: (at: "idle" | "last") => void,
  ): Promise<{ lastT0: number; initMs: number[]; refusedJoins?: number }>;
  isJoin(text: string, name: string): boolean;
  isFailed(text: string, name?: string): string | undefined;
  isSuspect(text: string): string | undefined;
  /** One list request on member 0, by its client (resolves when answered). */
  list(): Promise<void>;
  /** Each member's local health score (Lifeguard), when the system reports it. */
  health?(): Promise<number[]>;
  /** Connections each member dialled so far, when the system counts them. */
  dials?(): Promise<number[]>;
  cleanup(): void;
}

function serfCluster(): Cluster {
  const members: Member[] = Array.from({ length: N }, (_, i) => ({ name: `n${i}` }));
  const start = (i: number) => {
    const args = [
      "agent",
      `-node=n${i}`,
      `-bind=127.0.0.1:${SERF_BIND + i}`,
      `-rpc-addr=127.0.0.1:${SERF_RPC + i}`,
      "-profile=lan",
      "-tag",
      "ext=v1",
      "-log-level=info",
    ];
    if (i > 0) args.push(`-join=127.0.0.1:${SERF_BIND}`);
    members[i].proc = startProc("serf", args);
  };
  const joins = (m: Member) =>
    new Set(
      (m.proc?.lines ?? []).map((l) => /EventMemberJoin: (n\d+) /.exec(l.text)?.[1]).filter(
        Boolean,
      ),
    ).size;
  return {
    members,
    async form(mark) {
      start(0);
      await sleep(500);
      for (let i = 1; i < N - 1; i++) {
        start(i);
        await sleep(100);
      }
      for (let k = 0; k < 1200; k++) {
        if (members.slice(0, N - 1).every((m) => joins(m) >= N - 1)) break;
        await sleep(100);
      }
      mark("idle");
      await sleep(3000);
      mark("last");
      const lastT0 = now();
      start(N - 1);
      return { lastT0, initMs: [] };
    },
    isJoin: (text, name) => text.includes(`EventMemberJoin: ${name} `),
    isFailed: (text, name) => {
      const m = /EventMemberFailed: (n\d+) /.exec(text)?.[1];
      return m && (!name || m === name) ? m : undefined;
    },
    isSuspect: (text) => /Suspect (n\d+) has failed/.exec(text)?.[1],
    async list() {
      await run("serf", ["members", `-rpc-addr=127.0.0.1:${SERF_RPC}`, "-format=json"]);
    },
    cleanup() {},
  };
}

async function cohortCluster(): Promise<Cluster> {
  const scratch = mkdtempSync(join(tmpdir(), "cohort-scale-"));
  const used = new Set<number>();
  const members: Member[] = [];
  for (let i = 0; i < N; i++) {
    let port = await freePort();
    while (used.has(port)) port = await freePort();
    used.add(port);
    members.push({ name: `c${i}`, dir: join(scratch, `c${i}`), address: `127.0.0.1:${port}` });
  }
  const cli = (i: number, args: string[], input = "") =>
    run(process.execPath, [CLI, ...args, "--state-dir", members[i].dir!], input);
  const socket = (i: number) => join(members[i].dir!, "control.socket");
  return {
    members,
    async form(mark) {
      const startOne = async (i: number) => {
        members[i].proc = startProc(process.execPath, [
          MOD,
          "daemon",
          "--state-dir",
          members[i].dir!,
          "--gossip-preset",
          "lan",
          "--extensions",
          "feature_a",
        ], { COHORT_LOG_LEVEL: "info" });
        for (let k = 0; k < 1200; k++) {
          try {
            await requestJson({ method: "GET", path: "/core/1.0", socketPath: socket(i) });
            return;
          } catch {
            await sleep(50);
          }
        }
        throw new Error(`c${i} did not open its control socket`);
      };
      // Five at a time: 50 processes starting at once on 2 cores take longer than any timeout.
      for (let i = 0; i < N; i += 5) {
        await Promise.all(members.slice(i, i + 5).map((_, k) => startOne(i + k)));
      }
      const boot = await cli(0, ["init", "c0", members[0].address!, "--bootstrap"]);
      if (boot.code !== 0) throw new Error(`bootstrap: ${boot.stderr}`);
      const initMs: number[] = [];
      let lastT0 = 0;
      let refusedJoins = 0;
      for (let i = 1; i < N; i++) {
        let token = await cli(0, ["tokens", "add", `c${i}`]);
        if (token.code !== 0) throw new Error(`tokens add c${i}: ${token.stderr}`);
        if (i === N - 1) {
          mark("idle");
          await sleep(3000);
          mark("last");
          lastT0 = now();
        }
        // A join refused because too few members confirmed the token in time (a loaded
        // machine) is tried again, as its message tells the operator to: counted, not fatal.
        // So is one the CLI gave up waiting for (its daemon did not answer within the CLI's
        // timeout: seen at N=100, load 100): the join may have gone through meanwhile, and the
        // retry then finds the member initialised (joined) or the token used (a new one).
        for (let attempt = 1;; attempt++) {
          const init = await cli(
            i,
            ["init", `c${i}`, members[i].address!, "--token", "-"],
            token.stdout.trim(),
          );
          if (init.code === 0) {
            initMs.push(init.ms);
            break;
          }
          if (attempt > 1 && /already (initiali[sz]ed|a member)/i.test(init.stderr)) break;
          const claimed = /claimed by another join|already used or has been revoked/.test(
            init.stderr,
          );
          const retry = claimed || /must confirm the token|no answer within/.test(init.stderr);
          if (attempt >= 5 || !retry) throw new Error(`init c${i}: ${init.stderr}`);
          refusedJoins++;
          note(`c${i}'s join refused (${attempt}), trying again: ${load()}`);
          // The retry presents another certificate: the first attempt's claim holds the token
          // (its message says to revoke it and issue another).
          if (claimed) {
            await cli(0, ["tokens", "revoke", `c${i}`]);
            token = await cli(0, ["tokens", "add", `c${i}`]);
          }
          await sleep(2000);
        }
      }
      return { lastT0, initMs, refusedJoins };
    },
    isJoin: (text, name) =>
      text.includes('"Membership event"') && text.includes('"member-join"') &&
      text.includes(`"member":"${name}"`),
    isFailed: (text, name) => {
      if (!text.includes('"member-failed"')) return undefined;
      const m = /"member":"(c\d+)"/.exec(text)?.[1];
      return m && (!name || m === name) ? m : undefined;
    },
    isSuspect: (text) =>
      text.includes('"member-suspect"') ? /"member":"(c\d+)"/.exec(text)?.[1] : undefined,
    async list() {
      const r = await requestJson({
        method: "GET",
        path: "/core/1.0/cluster",
        socketPath: socket(0),
      });
      if (r.status !== 200) throw new Error(`GET /core/1.0/cluster: ${r.status}`);
    },
    async health() {
      const all = await Promise.all(members.map((m) => scrape(m.dir!)));
      return all.map((m) => m.get("cohort_gossip_local_health") ?? NaN);
    },
    async dials() {
      const all = await Promise.all(members.map((m) => scrape(m.dir!)));
      return all.map((m) => m.get("cohort_gossip_dials_total") ?? NaN);
    },
    cleanup() {
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** When every member of `on` logged a line matching `match` after `t0` (ms after t0). */
async function everyone(
  on: Member[],
  t0: number,
  match: (text: string) => unknown,
  timeoutMs = 60_000,
): Promise<{ all?: number; first?: number }> {
  const firstOf = (m: Member) => m.proc?.lines.find((l) => l.t >= t0 && match(l.text))?.t;
  const end = now() + timeoutMs;
  while (now() < end && on.some((m) => firstOf(m) === undefined)) await sleep(50);
  const times = on.map(firstOf).filter((t): t is number => t !== undefined);
  return {
    all: times.length === on.length ? Math.max(...times) - t0 : undefined,
    first: times.length ? Math.min(...times) - t0 : undefined,
  };
}

type Figures = Record<string, number | undefined>;

const medianOf = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Writes every member's lines and the figures' start times under `--logs` (see the usage). */
function keepLogs(
  kind: Kind,
  run: number,
  members: Member[],
  marks: Record<string, number | string>,
) {
  if (!LOG_DIR) return;
  const dir = join(LOG_DIR, `${kind}-${run}`);
  mkdirSync(dir, { recursive: true });
  for (const m of members) {
    const lines = (m.proc?.lines ?? []).map((l) => `${l.t.toFixed(1)} ${l.text}\n`);
    writeFileSync(join(dir, `${m.name}.log`), lines.join(""));
  }
  writeFileSync(join(dir, "marks.json"), JSON.stringify(marks, null, 1));
}

async function oneRun(kind: Kind, run: number): Promise<Figures> {
  const c = kind === "serf" ? serfCluster() : await cohortCluster();
  const f: Figures = {};
  const marks: Record<string, number | string> = {};
  const { members } = c;
  const count = (from: number, to: number, pick: (t: string) => string | undefined, not = "") =>
    members.reduce(
      (n, m) =>
        n +
        (m.proc?.lines ?? []).filter((l) => {
          if (l.t < from || l.t > to) return false;
          const who = pick(l.text);
          return who !== undefined && !not.split(",").includes(who);
        }).length,
      0,
    );
  try {
    const formStart = now();
    // Each other member's CPU over the last join (ms), beside its rate over the second before.
    const others = () => members.slice(0, N - 1).map((m) => m.proc!.child.pid!);
    const cpuAt: Partial<Record<"idle" | "last", { t: number; ms: number[] }>> = {};
    const { lastT0, initMs, refusedJoins } = await c.form((at) => {
      cpuAt[at] = { t: now(), ms: others().map(threadRunMs) };
    });
    Object.assign(marks, { formStart, lastT0 });
    if (refusedJoins !== undefined) {
      f["joins refused (too few token confirmations in time) and tried again"] = refusedJoins;
    }
    const last = members[N - 1];
    const seen = await everyone(members.slice(0, N - 1), lastT0, (t) => c.isJoin(t, last.name));
    const joinCpu = { t: now(), ms: others().map(threadRunMs) };
    f["last join visible on every member (s)"] = seen.all && seen.all / 1000;
    // From the first member that logged the join (cohort: the admitting member, as it admits;
    // serf: the member the joiner synced with) to the last: the dissemination alone, without the
    // joiner's start (cohort: the CLI process, the key pair, the claim round).
    f["last join: first member → every member (s)"] = seen.all !== undefined &&
        seen.first !== undefined
      ? (seen.all - seen.first) / 1000
      : undefined;
    const { idle: cpuIdle, last: cpuLast } = cpuAt;
    if (cpuIdle && cpuLast && seen.all !== undefined) {
      const window = joinCpu.t - cpuLast.t;
      const extra = joinCpu.ms.map((ms, i) =>
        ms - cpuLast.ms[i] -
        (cpuLast.ms[i] - cpuIdle.ms[i]) / (cpuLast.t - cpuIdle.t) * window
      );
      f["last join: CPU per other member beyond its idle rate, median (ms)"] = medianOf(extra);
      f["last join: CPU of all other members beyond their idle rate (ms)"] = extra.reduce(
        (a, b) => a + b,
        0,
      );
    }
    if (initMs.length) {
      const sorted = [...initMs].sort((a, b) => a - b);
      f["`init --token` duration, median over the joins (s)"] =
        sorted[Math.floor((sorted.length - 1) / 2)] / 1000;
      f["`init --token` duration, the last join (s)"] = initMs.at(-1)! / 1000;
    }
    await sleep(5000);
    const formed = now();
    await sleep(SETTLE_MS);
    f["suspicions of healthy members while forming"] = count(formStart, formed, c.isSuspect);
    f["failed verdicts of healthy members while forming"] = count(
      formStart,
      formed,
      (t) => c.isFailed(t),
    );
    // Two idle windows: the first before anything scraped a member (as serf, which has no
    // metrics), the second after one scrape, which starts a member's process metrics (an event
    // loop lag sampler every second, a GC observer: lib/metrics/process_metrics.ts), as a
    // member that Prometheus scrapes runs.
    // --pre-stall: the kill -STOP victim stops for a moment first (a stall while forming: it is
    // suspected and refutes), and its real stop comes 40 s after it ran again.
    let preStalled = 0;
    if (PRE_STALL_MS > 0) {
      const pid = members[N - 2].proc!.child.pid!;
      process.kill(pid, "SIGSTOP");
      await sleep(PRE_STALL_MS);
      process.kill(pid, "SIGCONT");
      preStalled = now();
      marks.preStallEnd = preStalled;
      await sleep(5000);
    }
    const pids = members.map((m) => m.proc!.child.pid!);
    const avg = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const window = async () => {
      const tick0 = pids.map(cpuMs);
      const run0 = pids.map(threadRunMs);
      const t0 = now();
      await sleep(IDLE_MS);
      const elapsed = now() - t0;
      return {
        t0,
        elapsed,
        ticks: pids.map((p, i) => (cpuMs(p) - tick0[i]) / elapsed * 100),
        run: pids.map((p, i) => (threadRunMs(p) - run0[i]) / elapsed * 100),
      };
    };
    const idle = await window();
    const { t0, ticks: cpu } = idle;
    const mem = pids.map(memKb);
    f["resident memory per member, VmRSS (MB)"] = avg(mem.map((m) => m.rss)) / 1024;
    f["proportional memory per member, Pss (MB)"] = avg(mem.map((m) => m.pss)) / 1024;
    f["open sockets per member (TCP, UDP, unix)"] = avg(pids.map(sockets));
    f["idle CPU per member (% of a core), run time (schedstat)"] = avg(idle.run);
    f["idle CPU per member (% of a core), utime+stime ticks"] = avg(cpu);
    f["idle CPU per member, median over members (%), run time"] = medianOf(idle.run);
    f["idle CPU, all members (% of a core), run time"] = idle.run.reduce((a, b) => a + b, 0);
    // Read outside the window: a scrape costs a member more than a second of idling.
    const dials0 = await c.dials?.();
    const scraped = await window();
    const dials1 = await c.dials?.();
    f["idle CPU per member once scraped (% of a core), run time"] = avg(scraped.run);
    f["idle CPU per member once scraped (% of a core), ticks"] = avg(scraped.ticks);
    if (dials0 && dials1) {
      f["connections dialled per member per minute, idle"] = dials1.reduce((a, d, i) =>
        a + d - dials0[i], 0) / N * 60_000 / scraped.elapsed;
    }
    f["suspicions of healthy members while idle"] = count(t0, now(), c.isSuspect);
    f["failed verdicts of healthy members while idle"] = count(t0, now(), (t) => c.isFailed(t));
    // One list request's cost to member 0: its first `REQUESTS` answers (cohort's run its request
    // path cold: interpreted, then compiled on V8's threads, whose CPU counts), then as many
    // again after 3 × REQUESTS more. Warmer, not warm: a fresh member's answers keep getting
    // cheaper for about 3000 of them (0.7-0.9 ms at first, 0.15-0.3 ms after, quiet machine).
    const idleRate = scraped.run[0] / 100;
    const listCpu = async () => {
      const c0 = threadRunMs(pids[0]);
      const l0 = now();
      for (let i = 0; i < REQUESTS; i++) await c.list();
      return Math.max(0, (threadRunMs(pids[0]) - c0 - idleRate * (now() - l0)) / REQUESTS);
    };
    f["one member list, CPU of the member answering (ms)"] = await listCpu();
    for (let i = 0; i < 3 * REQUESTS; i++) await c.list();
    f["one member list after 3x as many more, CPU of the member answering (ms)"] = await listCpu();
    // kill -9 of the last member.
    const victim9 = members[N - 1];
    const survivors9 = members.slice(0, N - 1);
    if (LOG_DIR && c.health) marks.health = (await c.health()).join(",");
    await sleep(1000 + Math.random() * 1000);
    const k9 = now();
    marks.kill9 = k9;
    victim9.proc!.child.kill("SIGKILL");
    const failed9 = await everyone(survivors9, k9, (t) => c.isFailed(t, victim9.name));
    const sign = (t: string, name: string) => c.isSuspect(t) === name || c.isFailed(t, name);
    const suspect9 = await everyone(survivors9, k9, (t) => sign(t, victim9.name), 1);
    f["kill -9: first suspicion or failed verdict (s)"] = suspect9.first && suspect9.first / 1000;
    f["kill -9: failed on every survivor (s)"] = failed9.all && failed9.all / 1000;
    // kill -STOP of another.
    const victimStop = members[N - 2];
    const survivors = members.slice(0, N - 2);
    await sleep(2000 + Math.random() * 1000);
    if (preStalled) await sleep(Math.max(0, preStalled + 40_000 - now()));
    const ks = now();
    marks.killStop = ks;
    process.kill(victimStop.proc!.child.pid!, "SIGSTOP");
    const failedS = await everyone(survivors, ks, (t) => c.isFailed(t, victimStop.name));
    const suspectS = await everyone(survivors, ks, (t) => sign(t, victimStop.name), 1);
    f["kill -STOP: first suspicion or failed verdict (s)"] = suspectS.first &&
      suspectS.first / 1000;
    f["kill -STOP: failed on every survivor (s)"] = failedS.all && failedS.all / 1000;
    const victims = `${victim9.name},${victimStop.name}`;
    f["false failed verdicts during the kills"] = count(k9, now(), (t) => c.isFailed(t), victims);
    f["suspicions of healthy members during the kills"] = count(k9, now(), c.isSuspect, victims);
    return f;
  } finally {
    await stopAll();
    keepLogs(kind, run, members, marks);
    c.cleanup();
  }
}

function ensureSerf(): void {
  if (spawnSync("serf", ["version"], { encoding: "utf8" }).status === 0) return;
  note("serf is missing: installing the Debian package");
  spawnSync("apt-get", ["update"], { stdio: "ignore" });
  const install = spawnSync("apt-get", ["install", "-y", "serf"], { stdio: "ignore" });
  if (install.status !== 0 || spawnSync("serf", ["version"]).status !== 0) {
    throw new Error("could not install serf (apt-get install -y serf)");
  }
}

if (SYSTEMS.includes("cohort") && !existsSync(CLI)) {
  console.error("dist/cli.cjs is missing: run `npm run build` first");
  process.exit(1);
}
if (SYSTEMS.includes("serf")) ensureSerf();
const loadBefore = load();
const results = new Map<Kind, Figures[]>();
try {
  for (let r = 0; r < RUNS; r++) {
    const order = r % 2 ? [...SYSTEMS].reverse() : SYSTEMS;
    for (const kind of order) {
      note(`run ${r + 1}/${RUNS}: ${kind}, N=${N} (${load()})`);
      const f = await oneRun(kind, r + 1);
      note(JSON.stringify(f));
      results.set(kind, [...(results.get(kind) ?? []), f]);
    }
  }
} finally {
  await stopAll();
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};
const show = (v: number[]) => {
  if (v.length === 0) return "–";
  const d = Math.abs(median(v)) >= 10 ? 0 : 2;
  return v.length === 1
    ? median(v).toFixed(d)
    : `${median(v).toFixed(d)} (${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)})`;
};
console.log(
  `\nReal members on 127.0.0.1, N=${N}, lan timing, ${RUNS} run(s) per system, alternating; ` +
    `idle window ${IDLE_MS / 1000} s from ${SETTLE_MS / 1000 + 5} s after forming, ` +
    `${REQUESTS} list requests`,
);
console.log(`load before: ${loadBefore}; after: ${load()}`);
// Node parses the file this names before any code runs, in every process (cohort's CLI commands
// and daemons; serf does not read it): 48 ms of CPU per process start on the project machine.
const extraCa = process.env.NODE_EXTRA_CA_CERTS;
console.log(
  extraCa === undefined
    ? "NODE_EXTRA_CA_CERTS unset\n"
    : `NODE_EXTRA_CA_CERTS=${extraCa}: parsed at the start of every Node process\n`,
);
console.log("| figure | serf | cohort | cohort ÷ serf |");
console.log("|---|---|---|---|");
const labels = [...new Set([...results.values()].flat().flatMap((f) => Object.keys(f)))];
for (const label of labels) {
  const of = (k: Kind) =>
    (results.get(k) ?? []).map((f) => f[label]).filter((x): x is number =>
      typeof x === "number" && Number.isFinite(x)
    );
  // A figure a system measured but did not see (a kill no survivor logged in 60 s) is present
  // and undefined; one the system does not have at all (serf's dials, its init --token) is absent.
  const missed = (k: Kind) =>
    (results.get(k) ?? []).filter((f) => label in f && f[label] === undefined).length;
  const cell = (k: Kind) => show(of(k)) + (missed(k) ? ` (${missed(k)} not seen in 60 s)` : "");
  const s = of("serf");
  const c = of("cohort");
  const ratio = s.length && c.length && median(s) > 0 ? (median(c) / median(s)).toFixed(2) : "–";
  console.log(`| ${label} | ${cell("serf")} | ${cell("cohort")} | ${ratio} |`);
}
