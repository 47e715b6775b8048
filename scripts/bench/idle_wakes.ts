/**
 * Benchmark: what an idle member does each second, cohort beside serf at the same N on
 * loopback (`lan` timing both), runs alternating which system goes first (issue 15, "idle CPU
 * per member ≤ serf's"). After the cluster formed and settled (`--settle`), over a window
 * (`--window`):
 *
 * - CPU per member (% of one core, the threads' run time from /proc/PID/task/TID/schedstat),
 *   median over the members;
 * - wake-ups per member per second: voluntary context switches summed over the process's
 *   threads (/proc/PID/task/*\/status), each a sleep the kernel had to end; and the main
 *   thread's alone (cohort: the event loop);
 * - with `--strace` (default on), the system calls of one member (the second) over the same
 *   window, per second and by name (`strace -c -f`; strace slows the member it watches, so its
 *   CPU is left out of the CPU figure).
 *
 * Every figure is wall-clock CPU on a shared machine: the load (`uptime`) is printed with each
 * run. Starts 2N member processes one system at a time: run it under the bench lock.
 *
 * Usage: `npm run build && flock /work/bench.lock node --import tsx scripts/bench/idle_wakes.ts
 *   [--members 10] [--runs 2] [--systems serf,cohort] [--settle 10] [--window 20] [--strace true]
 *   [--node-flags="--cpu-prof --cpu-prof-dir DIR"] [--out FILE]` (Node flags of the second
 *   cohort member, its standard output appended to FILE: e.g. `--trace-gc`; a CPU profile's
 *   samples' timestamps tell the idle window from the forming). `--entry FILE`: the daemons'
 *   entry instead of `dist/mod.js` (a copy of an older build, to compare two builds in
 *   alternating runs). `--trace FILE`: the watched member's system calls one a line, with times
 *   and durations, in `FILE.<system>.<n>` (instead of the counts).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  bootstrap,
  daemonArgs,
  issueToken,
  join_,
  type Member,
  newMember,
  stopMembers,
} from "../../tests/helpers/cluster.ts";
import { ENTRY, startDaemonProcess, waitForSocket } from "../../tests/helpers/process.ts";
import { threadRunMs } from "./run_time.ts";

const { values: opts } = parseArgs({
  options: {
    members: { type: "string", default: "10" },
    runs: { type: "string", default: "2" },
    systems: { type: "string", default: "serf,cohort" },
    settle: { type: "string", default: "10" },
    window: { type: "string", default: "20" },
    strace: { type: "string", default: "true" },
    "node-flags": { type: "string", default: "" },
    out: { type: "string" },
    entry: { type: "string", default: ENTRY },
    trace: { type: "string" },
  },
});
const N = Math.max(3, Math.min(60, Number(opts.members) || 10));
const RUNS = Math.max(1, Math.min(10, Number(opts.runs) || 2));
const SYSTEMS = opts.systems.split(",").filter((s) => s === "serf" || s === "cohort");
const SETTLE_MS = Math.max(0, Number(opts.settle) || 0) * 1000;
const WINDOW_MS = Math.max(5, Number(opts.window) || 20) * 1000;
const STRACE = opts.strace !== "false";
/** Node flags of the second cohort member (e.g. `--cpu-prof --cpu-prof-dir D`, `--trace-gc`). */
const NODE_FLAGS = opts["node-flags"].split(" ").filter(Boolean);
/** Where that member's standard output goes (`--trace-gc` prints there). */
const OUT = opts.out ?? "/dev/null";
const SERF_BIND = 24100;
const SERF_RPC = 24500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const note = (s: string) => console.error(`[idle_wakes] ${s}`);
const load = () =>
  spawnSync("uptime", { encoding: "utf8" }).stdout.trim().replace(/^.*load/, "load");
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Voluntary context switches so far: all threads, and the main thread's. */
function wakes(pid: number): { all: number; main: number } {
  let all = 0;
  let main = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let v = 0;
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      v = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch { /* thread gone */ }
    all += v;
    if (tid === String(pid)) main = v;
  }
  return { all, main };
}

/**
 * Runs `strace -c -f` on `pid` for `ms`; resolves with calls per second by syscall name. With
 * `trace`, the calls are written one a line to that file instead (`strace -f -tt -T`), the
 * waits' timeouts showing which timer woke the process.
 */
function straceFor(pid: number, ms: number, trace?: string): Promise<Map<string, number>> {
  return new Promise((done) => {
    const args = trace ? ["-f", "-tt", "-T", "-o", trace] : ["-c", "-f"];
    const child = spawn("strace", [...args, "-p", String(pid)], { stdio: "pipe" });
    let text = "";
    child.stderr.on("data", (d) => (text += d));
    child.on("close", () => {
      const calls = new Map<string, number>();
      for (const line of text.split("\n")) {
        const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
        if (m && m[2] !== "total") calls.set(m[2], Number(m[1]) / (ms / 1000));
      }
      done(calls);
    });
    setTimeout(() => child.kill("SIGINT"), ms);
  });
}

interface Running {
  pids: number[];
  stop(): Promise<void>;
}

async function formSerf(): Promise<Running> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < N; i++) {
    const args = [
      "agent",
      `-node=s${i}`,
      `-bind=127.0.0.1:${SERF_BIND + i}`,
      `-rpc-addr=127.0.0.1:${SERF_RPC + i}`,
      "-profile=lan",
      "-log-level=warn",
    ];
    if (i > 0) args.push(`-join=127.0.0.1:${SERF_BIND}`);
    children.push(spawn("serf", args, { stdio: "ignore" }));
    await sleep(i === 0 ? 500 : 100);
  }
  for (let k = 0; k < 300; k++) {
    const r = spawnSync("serf", ["members", `-rpc-addr=127.0.0.1:${SERF_RPC}`, "-status=alive"], {
      encoding: "utf8",
    });
    if (r.stdout.trim().split("\n").length >= N) break;
    await sleep(200);
  }
  return {
    pids: children.map((c) => c.pid!),
    async stop() {
      await Promise.all(children.map((c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null) return r();
          c.once("close", () => r());
          c.kill("SIGKILL");
        })
      ));
    },
  };
}

async function formCohort(): Promise<Running> {
  const flags = ["--gossip-preset", "lan"];
  const list: Member[] = [];
  try {
    for (let i = 0; i < N; i += 5) {
      const names = Array.from({ length: Math.min(5, N - i) }, (_, k) => `w${i + k}`);
      list.push(
        ...await Promise.all(names.map(async (n, k) => {
          const m = await newMember(n);
          const flags1 = i + k === 1 ? NODE_FLAGS : [];
          // Through sh, so the test helpers' leash (a parent check twice a second, two wake-ups
          // a member does not have in production) is not preloaded.
          m.daemon = startDaemonProcess(daemonArgs(m, { flags }), {
            command: "sh",
            args: ["-c", `exec "$0" "$@" >>"${OUT}"`, process.execPath, ...flags1, opts.entry],
          });
          await waitForSocket(m.dir, m.daemon);
          return m;
        })),
      );
    }
    await bootstrap(list[0]);
    // One join at a time, as an operator runs them.
    for (const m of list.slice(1)) {
      const r = await join_(m, await issueToken(list[0], m.name));
      if (r.code !== 0) throw new Error(`join ${m.name}: ${r.stderr}`);
    }
  } catch (err) {
    await stopMembers(list);
    throw err;
  }
  return { pids: list.map((m) => m.daemon!.child.pid!), stop: () => stopMembers(list) };
}

interface Figures {
  cpu: number;
  wakesAll: number;
  wakesMain: number;
  syscalls?: Map<string, number>;
  load: string;
}

async function measure(system: string): Promise<Figures> {
  const c = system === "serf" ? await formSerf() : await formCohort();
  try {
    await sleep(SETTLE_MS);
    const l0 = load();
    const watched = c.pids[1];
    const cpu0 = c.pids.map(threadRunMs);
    const w0 = c.pids.map(wakes);
    const trace = opts.trace && `${opts.trace}.${system}.${++traces}`;
    const traced = STRACE ? straceFor(watched, WINDOW_MS, trace) : undefined;
    await sleep(WINDOW_MS);
    const s = WINDOW_MS / 1000;
    const others = c.pids.map((p, i) => ({ p, i })).filter(({ p }) => !STRACE || p !== watched);
    const cpu = others.map(({ p, i }) => (threadRunMs(p) - cpu0[i]) / 10 / s);
    const w1 = others.map(({ p, i }) => {
      const w = wakes(p);
      return { all: (w.all - w0[i].all) / s, main: (w.main - w0[i].main) / s };
    });
    return {
      cpu: median(cpu),
      wakesAll: median(w1.map((w) => w.all)),
      wakesMain: median(w1.map((w) => w.main)),
      syscalls: await traced,
      load: `${l0} / ${load()}`,
    };
  } finally {
    await c.stop();
  }
}

let traces = 0;
const results: Record<string, Figures[]> = {};
for (let run = 0; run < RUNS; run++) {
  const order = run % 2 ? [...SYSTEMS].reverse() : SYSTEMS;
  for (const system of order) {
    note(`run ${run + 1}/${RUNS}: ${system}, N=${N} (${load()})`);
    const f = await measure(system);
    (results[system] ??= []).push(f);
    const top = [...(f.syscalls ?? new Map()).entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
    const total = [...(f.syscalls ?? new Map()).values()].reduce((a, b) => a + b, 0);
    console.log(
      `${system} run ${run + 1}: CPU ${f.cpu.toFixed(2)} % · wakes/s ${f.wakesAll.toFixed(1)} ` +
        `(main thread ${f.wakesMain.toFixed(1)})` +
        (f.syscalls
          ? ` · syscalls/s ${total.toFixed(0)}: ` +
            top.map(([n, v]) => `${n} ${v.toFixed(1)}`).join(", ")
          : "") +
        ` · ${f.load}`,
    );
  }
}
console.log(
  `\nN=${N}, window ${WINDOW_MS / 1000} s after ${SETTLE_MS / 1000} s settle; medians over runs`,
);
for (const [system, fs] of Object.entries(results)) {
  const range = (xs: number[]) =>
    `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
  console.log(
    `${system.padEnd(7)} CPU/member % ${range(fs.map((f) => f.cpu))} · wakes/s ` +
      `${range(fs.map((f) => f.wakesAll))} · main thread ${range(fs.map((f) => f.wakesMain))}`,
  );
}
process.exit(0);
