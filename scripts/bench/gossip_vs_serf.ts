/**
 * Side-by-side loopback benchmark of cohort's gossip against HashiCorp serf (issue 3,
 * benchmark 2). Same timing profile on both sides (serf `-profile=lan` against cohort's `lan`
 * preset, and `local` against `local`), N = 3 and 10, runs alternating serf-first and
 * cohort-first. Prints one table of medians with the ratio cohort ÷ serf.
 *
 * Per run and system, on 127.0.0.1 only:
 * - (a) join: N−1 members form; then the last joins. serf: from spawning the agent (`-join`);
 *   cohort: from the `POST /core/control` join request on the started, uninitialised daemon
 *   (token issued beforehand). Until every member has logged every other as joined.
 * - (c) metadata change on the first member until every other member has it. serf:
 *   `serf tags -set ext=…`; cohort: `PUT /core/control/app-version` (what `cohort app-version`
 *   sends). Both timed from issuing the request until every other member logged the new value.
 * - (b) `kill -9` of the last member until every survivor logged it failed/dead.
 * - (d) the last member is restarted, rejoins, and gets `kill -STOP` (sockets stay open: only
 *   the suspicion path works) until every survivor logged it failed/dead; then it is killed.
 * - false positives: failed/dead events about any member other than the victim of the moment;
 *   suspicions: all suspect events (serf: "Suspect … has failed"), summed over runs.
 * - idle (once per N, profile and system, on the converged N-member cluster of the first run,
 *   after a settle pause, over a window): bytes/s sent per member, CPU % of one core per member
 *   (utime+stime from /proc/PID/stat), resident memory per member (VmRSS from
 *   /proc/PID/status, at the end of the window). Bytes: serf from its own counters
 *   (`memberlist.udp.sent` + `memberlist.tcp.sent`, dumped on SIGUSR1, complete 10 s buckets
 *   inside the window: UDP/TCP payload, as the reference's idle.sh); cohort from the kernel's
 *   per-socket `bytes_sent` (`ss -tinp`, TCP payload = TLS records carrying WebSocket frames)
 *   of every established socket owned by the member's process.
 *
 * Times use the log method of the reference's bench.sh: every member's log line is stamped on
 * arrival in this process (serf: `EventMember*` lines; cohort: its "Membership event" lines),
 * so no polling delay is included. Every process is started and stopped by PID; every loop is
 * bounded in count and time.
 *
 * Usage: `npm run build && node --import tsx scripts/bench/gossip_vs_serf.ts
 *         [--runs 3] [--sizes 3,10] [--profiles lan,local] [--idle-window 25|0]
 *         [--systems serf,cohort]`
 * Installs serf (`apt-get update && apt-get install -y serf`) when it is missing.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { freePort } from "../../tests/helpers/process.ts";
import { parseArgs } from "node:util";
import { control } from "./control.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const { values: opts } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    sizes: { type: "string", default: "3,10" },
    profiles: { type: "string", default: "lan,local" },
    "idle-window": { type: "string", default: "25" },
    systems: { type: "string", default: "serf,cohort" },
  },
});
const RUNS = Math.max(1, Math.min(20, Number(opts.runs) || 3));
const SIZES = opts.sizes.split(",").map(Number).filter((n) => n >= 3 && n <= 20);
const PROFILES = opts.profiles.split(",").filter((p) => p === "lan" || p === "local") as (
  | "lan"
  | "local"
)[];
/** 0 skips the idle measurement. */
const IDLE_S = opts["idle-window"] === "0"
  ? 0
  : Math.max(21, Math.min(120, Number(opts["idle-window"]) || 25));
const SYSTEMS: string[] = opts.systems.split(",").filter((s) => s === "serf" || s === "cohort");
const SERF_BIND = 17940;
const SERF_RPC = 17370;
const HZ = 100; // USER_HZ on Linux

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const note = (s: string) => console.error(`[bench] ${s}`);

// --- processes ---------------------------------------------------------------------------------

/** A started process whose output lines are stamped on arrival. */
interface Proc {
  child: ChildProcess;
  pid: number;
  lines: { t: number; text: string }[];
  exited: Promise<void>;
}

/** Every process started, so an interrupt can stop them all by PID. */
const started = new Set<Proc>();

function startProc(command: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  const proc: Proc = {
    child,
    pid: child.pid!,
    lines: [],
    exited: new Promise((r) => child.once("close", () => r())),
  };
  started.add(proc);
  void proc.exited.then(() => started.delete(proc));
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = "";
    stream.on("data", (d: Buffer) => {
      const t = now();
      const parts = (rest + d.toString()).split("\n");
      rest = parts.pop()!;
      // Keep memory bounded: only lines the benchmark reads.
      for (const text of parts) {
        if (
          text.includes("Member") || text.includes("Daemon started") ||
          text.includes("memberlist.") || text.includes("Suspect")
        ) proc.lines.push({ t, text });
      }
    });
  }
  return proc;
}

function alive(p: Proc | undefined): p is Proc {
  return !!p && p.child.exitCode === null && p.child.signalCode === null;
}

function signal(p: Proc | undefined, sig: NodeJS.Signals): void {
  if (alive(p)) {
    try {
      process.kill(p.pid, sig);
    } catch { /* already gone */ }
  }
}

async function stopProc(p: Proc | undefined, graceMs = 5000): Promise<void> {
  if (!alive(p)) return;
  signal(p, "SIGCONT");
  signal(p, "SIGTERM");
  const timer = setTimeout(() => signal(p, "SIGKILL"), graceMs);
  await p.exited;
  clearTimeout(timer);
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (let i = 0; i < 10_000 && Date.now() < end; i++) {
    try {
      if (await check()) return true;
    } catch { /* not yet */ }
    await sleep(25);
  }
  return false;
}

/** A free port not in `taken` (freePort may hand out the same port twice in a row). */
async function uniquePort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error("no free port");
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  } catch {
    return NaN;
  }
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Sum of `bytes_sent` per established TCP socket (keyed by 4-tuple) owned by `pids`. */
function tcpBytesSent(pids: Set<number>): Map<string, number> {
  const out = new Map<string, number>();
  const r = spawnSync("ss", ["-tinpH", "state", "established"], { encoding: "utf8" });
  const lines = (r.stdout ?? "").split("\n");
  for (let i = 0; i < lines.length - 1; i++) {
    const m = /pid=(\d+)/.exec(lines[i]);
    if (!m || !pids.has(Number(m[1]))) continue;
    const cols = lines[i].trim().split(/\s+/);
    const sent = /bytes_sent:(\d+)/.exec(lines[i + 1]);
    if (sent) out.set(`${m[1]} ${cols[2]} ${cols[3]}`, Number(sent[1]));
  }
  return out;
}

// --- the two systems behind one interface ------------------------------------------------------

interface Member {
  index: number;
  name: string;
  proc?: Proc;
}

interface Cluster {
  readonly kind: "serf" | "cohort";
  readonly members: Member[];
  /** Starts member i and makes it join (i > 0) or bootstrap (i = 0); resolves with t0 of the join. */
  add(i: number): Promise<number>;
  /** Restarts a killed member from its state; it rejoins by itself. */
  restart(i: number): Promise<void>;
  /** Changes member 0's metadata; resolves with t0 and a matcher for "has the new value". */
  changeMeta(run: number): Promise<{ t0: number; has: (line: string) => boolean }>;
  /** Every member in `idx` sees exactly `idx.length` alive members (polled). */
  converged(idx: number[]): Promise<boolean>;
  /** A line saying member `name` joined (alive). */
  isJoin(line: string, name: string): boolean;
  isFailed(line: string, name?: string): boolean;
  isSuspect(line: string): boolean;
  /** Bytes sent per member per second over an idle window. */
  idleBytes(windowStart: number, windowEnd: number): Promise<number>;
  stopAll(): Promise<void>;
  /** Prints every member's view (BENCH_DEBUG). */
  debug?(): Promise<void>;
}

function serfCluster(n: number, profile: string): Cluster {
  const members: Member[] = Array.from({ length: n }, (_, i) => ({ index: i, name: `n${i}` }));
  const start = (i: number, joinTo?: number) => {
    const args = [
      "agent",
      `-node=n${i}`,
      `-bind=127.0.0.1:${SERF_BIND + i}`,
      `-rpc-addr=127.0.0.1:${SERF_RPC + i}`,
      `-profile=${profile}`,
      "-tag",
      `role=r${i}`,
      "-tag",
      "ext=v1",
      "-log-level=info",
    ];
    if (joinTo !== undefined) args.push(`-join=127.0.0.1:${SERF_BIND + joinTo}`);
    members[i].proc = startProc("serf", args);
  };
  const list = (i: number) => {
    const r = spawnSync(
      "serf",
      ["members", `-rpc-addr=127.0.0.1:${SERF_RPC + i}`, "-format=json"],
      {
        encoding: "utf8",
        timeout: 3000,
      },
    );
    return (JSON.parse(r.stdout) as { members: { name: string; status: string }[] }).members;
  };
  const rpcUp = (i: number) => waitFor(() => listening(SERF_RPC + i), 10_000);
  return {
    kind: "serf",
    members,
    async add(i) {
      const t0 = now();
      start(i, i === 0 ? undefined : 0);
      if (i === 0) await rpcUp(0);
      return t0;
    },
    async restart(i) {
      start(i, 0);
      await rpcUp(i);
    },
    changeMeta(run) {
      const value = `v${run}x${Math.floor(Math.random() * 1e6)}`;
      const t0 = now();
      spawn("serf", ["tags", `-rpc-addr=127.0.0.1:${SERF_RPC}`, "-set", `ext=${value}`], {
        stdio: "ignore",
      });
      // serf logs an update without the tag; the only update of n0 after t0 is this one.
      return Promise.resolve({ t0, has: (line: string) => /EventMemberUpdate: n0\b/.test(line) });
    },
    converged(idx) {
      return Promise.resolve(idx.every((i) => {
        const m = list(i);
        return m.filter((x) => x.status === "alive").length === idx.length;
      }));
    },
    isJoin: (line, name) => line.includes(`EventMemberJoin: ${name} `),
    isFailed: (line, name) =>
      name ? line.includes(`EventMemberFailed: ${name} `) : line.includes("EventMemberFailed: "),
    isSuspect: (line) => /Suspect n\d+ has failed/.test(line),
    async idleBytes(ws, we) {
      for (const m of members) signal(m.proc, "SIGUSR1");
      await sleep(1000);
      let total = 0;
      let counted = 0;
      for (const m of members) {
        const sums = new Map<number, number>();
        for (const { text } of m.proc?.lines ?? []) {
          const b =
            /^\[(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) \+0000 UTC\]\[C\] 'serf-agent\.memberlist\.(udp|tcp)\.sent': .*Sum: ([\d.]+)/
              .exec(text);
          if (!b) continue;
          const bt = Date.UTC(+b[1], +b[2] - 1, +b[3], +b[4], +b[5], +b[6]);
          if (bt >= ws && bt + 10_000 <= we) sums.set(bt, (sums.get(bt) ?? 0) + Number(b[8]));
        }
        if (sums.size === 0) continue;
        total += [...sums.values()].reduce((a, b) => a + b, 0) / (10 * sums.size);
        counted++;
      }
      return counted ? total / counted : NaN;
    },
    async stopAll() {
      await Promise.all(members.map((m) => stopProc(m.proc)));
    },
  };
}

function listening(port: number): boolean {
  const r = spawnSync("ss", ["-lntH", `sport = :${port}`], { encoding: "utf8" });
  return (r.stdout ?? "").includes(`127.0.0.1:${port}`);
}

async function cohortCluster(n: number, profile: "lan" | "local"): Promise<Cluster> {
  const entry = join(root, "dist/mod.js");
  const members: (Member & { dir: string; address: string; extensions: string[] })[] = [];
  const taken = new Set<number>();
  for (let i = 0; i < n; i++) {
    members.push({
      index: i,
      name: `m${i}`,
      dir: mkdtempSync(join(tmpdir(), `cohort-bench-m${i}-`)),
      address: `127.0.0.1:${await uniquePort(taken)}`,
      extensions: ["feature_a"],
    });
  }
  const api = (i: number, method: string, path: string, body?: unknown) =>
    control(members[i].dir, `m${i}`, method, path, body, 15_000);
  const start = async (i: number) => {
    const m = members[i];
    m.proc = startProc(process.execPath, [
      entry,
      "daemon",
      "--state-dir",
      m.dir,
      "--gossip-preset",
      profile,
      "--extensions",
      m.extensions.join(","),
    ], { COHORT_LOG_LEVEL: "info" });
    const ok = await waitFor(async () => {
      await api(i, "GET", "/core/1.0");
      return true;
    }, 20_000);
    if (!ok) throw new Error(`m${i} did not open its control socket`);
  };
  const event = (line: string) => {
    if (!line.includes('"Membership event"')) return undefined;
    try {
      return JSON.parse(line) as {
        event: string;
        member: string;
        extension_count: number;
        app_version: string;
      };
    } catch {
      return undefined;
    }
  };
  return {
    kind: "cohort",
    members,
    async add(i) {
      await start(i);
      const m = members[i];
      if (i === 0) {
        await api(0, "POST", "/core/control", {
          bootstrap: true,
          name: m.name,
          address: m.address,
        });
        return now();
      }
      const token = await api(0, "POST", "/core/control/tokens", { name: m.name }) as string;
      const t0 = now();
      await api(i, "POST", "/core/control", {
        bootstrap: false,
        name: m.name,
        address: m.address,
        join_token: token,
      });
      return t0;
    },
    async restart(i) {
      // With member 0's (newer) extension list: a member restarting behind the cluster is held
      // back by upgrade gating, which is not what this step measures.
      members[i].extensions = [...members[0].extensions];
      await start(i);
    },
    async changeMeta(run) {
      // A runtime metadata change, as serf's tag change: a new app version on member 0.
      const version = `2.${run}.${Date.now() % 100_000}`;
      const t0 = now();
      await api(0, "PUT", "/core/control/app-version", { app_version: version });
      return {
        t0,
        has: (line: string) => {
          const e = event(line);
          return !!e && e.member === "m0" && e.app_version === version &&
            (e.event === "member-join" || e.event === "member-update");
        },
      };
    },
    async converged(idx) {
      for (const i of idx) {
        const view = await api(i, "GET", "/core/1.0/cluster") as { name: string; status: string }[];
        const up = view.filter((e) =>
          members.slice(0).some((m, j) => m.name === e.name && idx.includes(j)) &&
          e.status !== "UNREACHABLE" && e.status !== "SUSPECT"
        );
        if (up.length !== idx.length) return false;
      }
      return true;
    },
    isJoin(line, name) {
      const e = event(line);
      return !!e && e.member === name && e.event === "member-join";
    },
    isFailed(line, name) {
      const e = event(line);
      return !!e && e.event === "member-failed" && (name === undefined || e.member === name);
    },
    isSuspect: (line) => event(line)?.event === "member-suspect",
    async debug() {
      for (const m of members) {
        note(
          `${m.name}: ${
            JSON.stringify(await api(m.index, "GET", "/core/1.0/cluster").catch(String))
              .slice(0, 1500)
          }`,
        );
      }
    },
    idleBytes() {
      return Promise.resolve(NaN); // measured by sampling sockets, see idle()
    },
    async stopAll() {
      await Promise.all(members.map((m) => stopProc(m.proc)));
      for (const m of members) rmSync(m.dir, { recursive: true, force: true });
    },
  };
}

// --- one run -----------------------------------------------------------------------------------

interface RunResult {
  join?: number;
  meta?: number;
  kill9?: number;
  stop?: number;
  /** kill -STOP until the first suspicion of the victim by any survivor. */
  stopSuspect?: number;
  falsePositives: number;
  suspicions: number;
  idle?: { bytes: number; cpu: number; rss: number };
}

/** Earliest time, over `observers`, of a line after `t0` matching `match`; NaN if none has one. */
function firstAny(observers: Member[], t0: number, match: (line: string) => boolean): number {
  let first = Infinity;
  for (const m of observers) {
    const hit = m.proc?.lines.find((l) => l.t >= t0 && match(l.text));
    if (hit) first = Math.min(first, hit.t);
  }
  return Number.isFinite(first) ? (first - t0) / 1000 : NaN;
}

/** Latest time, over `observers`, of the first line after `t0` matching `match`; NaN if any lacks one. */
function lastFirst(observers: Member[], t0: number, match: (line: string) => boolean): number {
  let latest = -Infinity;
  for (const m of observers) {
    const hit = m.proc?.lines.find((l) => l.t >= t0 && match(l.text));
    if (!hit) return NaN;
    latest = Math.max(latest, hit.t);
  }
  return (latest - t0) / 1000;
}

async function oneRun(
  kind: "serf" | "cohort",
  n: number,
  profile: "lan" | "local",
  run: number,
  measureIdle: boolean,
): Promise<RunResult> {
  const c = kind === "serf" ? serfCluster(n, profile) : await cohortCluster(n, profile);
  const res: RunResult = { falsePositives: 0, suspicions: 0 };
  const last = n - 1;
  const all = c.members.map((_, i) => i);
  const firsts = all.slice(0, last);
  const tStart = now();
  const victims: { name: string; from: number; to: number }[] = [];
  try {
    // Form N−1.
    await c.add(0);
    for (let i = 1; i < last; i++) {
      await c.add(i);
      if (kind === "serf") await sleep(200);
    }
    if (!(await waitFor(() => c.converged(firsts), 60_000))) throw new Error("N−1 did not form");
    await sleep(1000);

    // (a) join of the last member.
    const tj = await c.add(last);
    const newName = c.members[last].name;
    await waitFor(() => c.converged(all), 30_000);
    await sleep(300);
    const others = c.members.filter((m) => m.index !== last);
    const a1 = lastFirst(others, tj, (l) => c.isJoin(l, newName));
    // The joiner itself: when it has logged every other member.
    const joiner = c.members[last].proc!;
    let a2 = -Infinity;
    for (const o of others) {
      const hit = joiner.lines.find((l) => l.t >= tj && c.isJoin(l.text, o.name));
      a2 = hit ? Math.max(a2, (hit.t - tj) / 1000) : NaN;
    }
    res.join = Math.max(a1, a2);
    if (res.join > 1) {
      note(`${kind}: slow join: the others took ${fmt(a1)} s, the joiner ${fmt(a2)} s`);
    }

    if (measureIdle) {
      await sleep(8000); // let join traffic and the first push-pulls drain
      const pids = new Set(c.members.map((m) => m.proc!.pid));
      const cpu0 = c.members.map((m) => cpuTicks(m.proc!.pid));
      const b0 = kind === "cohort" ? tcpBytesSent(pids) : undefined;
      const ws = Date.now();
      const t0 = now();
      await sleep(IDLE_S * 1000);
      const we = Date.now();
      const secs = (now() - t0) / 1000;
      const cpu = c.members.map((m, i) => (cpuTicks(m.proc!.pid) - cpu0[i]) / HZ / secs * 100);
      const rss = c.members.map((m) => rssMb(m.proc!.pid));
      let bytes: number;
      if (b0) {
        const b1 = tcpBytesSent(pids);
        let sum = 0;
        for (const [k, v] of b1) sum += v - (b0.get(k) ?? 0);
        bytes = sum / secs / n;
      } else bytes = await c.idleBytes(ws, we);
      res.idle = { bytes, cpu: mean(cpu), rss: mean(rss) };
    }
    await sleep(1000);

    // (c) metadata change on member 0.
    const meta = await c.changeMeta(run);
    const metaObservers = c.members.filter((m) => m.index !== 0);
    await waitFor(
      () => !Number.isNaN(lastFirst(metaObservers, meta.t0, meta.has)),
      30_000,
    );
    res.meta = lastFirst(metaObservers, meta.t0, meta.has);
    await waitFor(() => c.converged(all), 30_000);
    await sleep(1000 + Math.random() * 900);

    // (b) kill -9 of the last member.
    const survivors = c.members.filter((m) => m.index !== last);
    let t0 = now();
    signal(c.members[last].proc, "SIGKILL");
    await c.members[last].proc!.exited;
    await waitFor(
      () => !Number.isNaN(lastFirst(survivors, t0, (l) => c.isFailed(l, newName))),
      60_000,
    );
    res.kill9 = lastFirst(survivors, t0, (l) => c.isFailed(l, newName));
    victims.push({ name: newName, from: t0, to: Infinity });

    // (d) restart it, let it rejoin, then kill -STOP it.
    const tr = now();
    await c.restart(last);
    if (!(await waitFor(() => c.converged(all), 30_000))) {
      note(`${kind}: the restarted member did not rejoin within 30 s`);
      if (process.env.BENCH_DEBUG) await c.debug?.();
    }
    victims[0].to = now();
    await sleep(2000 + Math.random() * 900);
    t0 = now();
    signal(c.members[last].proc, "SIGSTOP");
    await waitFor(
      () => !Number.isNaN(lastFirst(survivors, t0, (l) => c.isFailed(l, newName))),
      60_000,
    );
    res.stop = lastFirst(survivors, t0, (l) => c.isFailed(l, newName));
    res.stopSuspect = firstAny(survivors, t0, (l) => c.isSuspect(l) && l.includes(`${newName}`));
    victims.push({ name: newName, from: t0, to: Infinity });
    void tr;

    // False positives: a member declared failed while it was not a victim.
    for (const m of c.members) {
      for (const l of m.proc?.lines ?? []) {
        if (l.t < tStart) continue;
        if (c.isSuspect(l.text)) res.suspicions++;
        if (!c.isFailed(l.text)) continue;
        const isVictim = victims.some((v) => c.isFailed(l.text, v.name) && l.t >= v.from);
        if (!isVictim) res.falsePositives++;
      }
    }
  } catch (err) {
    note(`${kind} N=${n} ${profile} run ${run}: ${(err as Error).message}`);
  } finally {
    await c.stopAll();
    await sleep(500);
  }
  return res;
}

// --- statistics and table ----------------------------------------------------------------------

function mean(xs: number[]): number {
  const ok = xs.filter((x) => Number.isFinite(x));
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : NaN;
}

function median(xs: (number | undefined)[]): number {
  const ok = xs.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) =>
    a - b
  );
  if (!ok.length) return NaN;
  const h = ok.length >> 1;
  return ok.length % 2 ? ok[h] : (ok[h - 1] + ok[h]) / 2;
}

function fmt(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "n/a";
}

// --- main --------------------------------------------------------------------------------------

function ensureSerf(): void {
  if (spawnSync("serf", ["version"], { encoding: "utf8" }).status === 0) return;
  note("serf is missing: installing the Debian package");
  const update = spawnSync("apt-get", ["update"], { stdio: "inherit", timeout: 300_000 });
  const install = spawnSync("apt-get", ["install", "-y", "serf"], {
    stdio: "inherit",
    timeout: 300_000,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (update.status !== 0 || install.status !== 0 || spawnSync("serf", ["version"]).status !== 0) {
    throw new Error("could not install serf (apt-get install -y serf)");
  }
}

async function main(): Promise<void> {
  ensureSerf();
  if (!existsSync(join(root, "dist/mod.js"))) throw new Error("run `npm run build` first");
  for (let i = 0; i < Math.max(...SIZES); i++) {
    if (listening(SERF_BIND + i) || listening(SERF_RPC + i)) {
      throw new Error(`port ${SERF_BIND + i} or ${SERF_RPC + i} on 127.0.0.1 is busy`);
    }
  }
  const began = Date.now();
  const results = new Map<string, RunResult[]>();
  const key = (k: string, n: number, p: string) => `${k},${n},${p}`;
  for (let run = 1; run <= RUNS; run++) {
    for (const n of SIZES) {
      for (const p of PROFILES) {
        const order = (run % 2 ? ["serf", "cohort"] : ["cohort", "serf"]).filter((k) =>
          SYSTEMS.includes(k)
        ) as ("serf" | "cohort")[];
        for (const kind of order) {
          const r = await oneRun(kind, n, p, run, run === 1 && IDLE_S > 0);
          note(
            `run ${run} N=${n} ${p} ${kind}: join ${fmt(r.join ?? NaN)} meta ${
              fmt(r.meta ?? NaN)
            } kill9 ${fmt(r.kill9 ?? NaN)} stop ${fmt(r.stop ?? NaN)} (suspected ${
              fmt(r.stopSuspect ?? NaN)
            }) fp ${r.falsePositives} susp ${r.suspicions}${
              r.idle
                ? ` idle ${fmt(r.idle.bytes, 0)} B/s cpu ${fmt(r.idle.cpu, 2)}% rss ${
                  fmt(r.idle.rss, 1)
                } MB`
                : ""
            }`,
          );
          const k = key(kind, n, p);
          results.set(k, [...(results.get(k) ?? []), r]);
        }
      }
    }
  }

  const rows: string[][] = [];
  const header = ["N", "profile", "figure", "serf", "cohort", "cohort÷serf"];
  for (const n of SIZES) {
    for (const p of PROFILES) {
      const s = results.get(key("serf", n, p)) ?? [];
      const c = results.get(key("cohort", n, p)) ?? [];
      const line = (figure: string, sv: number, cv: number, digits = 3) =>
        rows.push([String(n), p, figure, fmt(sv, digits), fmt(cv, digits), fmt(cv / sv, 2)]);
      const med = (rs: RunResult[], f: keyof RunResult) =>
        median(rs.map((r) => r[f] as number | undefined));
      line("join convergence (s, median)", med(s, "join"), med(c, "join"));
      line("metadata propagation (s, median)", med(s, "meta"), med(c, "meta"));
      line("kill -9 detection (s, median)", med(s, "kill9"), med(c, "kill9"));
      line("kill -STOP detection (s, median)", med(s, "stop"), med(c, "stop"));
      line("  of which: first suspicion (s, median)", med(s, "stopSuspect"), med(c, "stopSuspect"));
      const sum = (rs: RunResult[], f: "falsePositives" | "suspicions") =>
        rs.reduce((a, r) => a + r[f], 0);
      line(
        "false positives (count, all runs)",
        sum(s, "falsePositives"),
        sum(c, "falsePositives"),
        0,
      );
      line("suspicions raised (count, all runs)", sum(s, "suspicions"), sum(c, "suspicions"), 0);
      const idle = (rs: RunResult[], f: "bytes" | "cpu" | "rss") =>
        mean(rs.map((r) => r.idle?.[f] ?? NaN));
      line("idle bytes/s sent per member", idle(s, "bytes"), idle(c, "bytes"), 0);
      line("idle CPU per member (% of a core)", idle(s, "cpu"), idle(c, "cpu"), 2);
      line("resident memory per member (MB)", idle(s, "rss"), idle(c, "rss"), 1);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const show = (r: string[]) => "| " + r.map((x, i) => x.padEnd(widths[i])).join(" | ") + " |";
  console.log(
    `\ncohort vs serf on 127.0.0.1, ${RUNS} run(s) each, alternating; ` +
      `idle window ${IDLE_S} s (first run)`,
  );
  console.log(show(header));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const r of rows) console.log(show(r));
  console.log(`\nwall time ${((Date.now() - began) / 1000).toFixed(0)} s`);
}

let exiting = false;
const onSignal = () => {
  if (exiting) return;
  exiting = true;
  note("interrupted: stopping processes");
  for (const p of started) {
    signal(p, "SIGCONT");
    signal(p, "SIGKILL");
  }
  process.exit(130);
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

await main().catch((err) => {
  console.error(`gossip_vs_serf: ${(err as Error).message}`);
  process.exitCode = 1;
});
