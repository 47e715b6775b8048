/**
 * Benchmark: each idle member's CPU over time, and the garbage collector's part in it (issue 15,
 * "idle CPU per member ≤ serf's"). A 20 s window read 10 s after forming (`scale.ts`) found
 * some members at twice the others' CPU; this follows every member for minutes instead.
 *
 * One cluster of N real members on loopback (`lan` timing; the first bootstraps, the others join
 * it one after the other through their control sockets, as `formation.ts` does), every member
 * run with V8's `--trace-gc` (one line per collection on its standard output, read here). From
 * the moment the cluster formed, every `--step` seconds for `--duration` seconds:
 *
 * - each member's CPU over the step (% of one core, the threads' run time from
 *   /proc/PID/task/TID/schedstat), printed per step as the mean, median and largest over the
 *   members, with the members that ran a full collection (mark-compact) in the step;
 * - per member at the end: its CPU over the whole duration and over the steps without a full
 *   collection, the full collections with the member's age at each (`reduce`: started by V8's
 *   memory reducer, which shrinks the heap of a process that has gone idle, up to 3 in a row),
 *   and the scavenges (young-generation collections) counted.
 *
 * A full collection of a member's heap (≈ 14 MB) costs tens of ms of CPU, on the main thread
 * and V8's helper threads: a short window that holds one reads a member at twice its steady
 * cost, one that does not reads its steady cost. The duration's figure is the steady one.
 *
 * Wall-clock CPU on a shared machine: the load (`uptime`) is printed with every step.
 *
 * Usage: `npm run build && node --import tsx scripts/bench/idle_members.ts [--members 10]
 *   [--duration 300] [--step 10] [--dist DIR] [--node-flags "FLAGS"]`
 * (`--dist`: the built daemon to run, default `dist/`; `--node-flags`: more flags every member
 * runs with, beside `--trace-gc`).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { freePort } from "../../tests/helpers/process.ts";
import { control } from "./control.ts";
import { threadRunMs } from "./run_time.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const { values: opts } = parseArgs({
  options: {
    members: { type: "string", default: "10" },
    duration: { type: "string", default: "300" },
    step: { type: "string", default: "10" },
    dist: { type: "string" },
    "node-flags": { type: "string", default: "" },
  },
});
const N = Math.max(2, Math.min(100, Number(opts.members) || 10));
const STEP_MS = Math.max(1, Number(opts.step) || 10) * 1000;
const STEPS = Math.max(1, Math.round((Number(opts.duration) || 300) * 1000 / STEP_MS));
const DIST = resolve(opts.dist ?? join(root, "dist"));
const NODE_FLAGS = ["--trace-gc", ...opts["node-flags"].split(/\s+/).filter(Boolean)];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const note = (s: string) => console.error(`[idle_members] ${s}`);
const load = () =>
  spawnSync("uptime", { encoding: "utf8" }).stdout.trim().replace(/^.*load average: /, "");
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** One collection from a `--trace-gc` line. */
interface Gc {
  /** Wall-clock time (ms since the epoch), from the process's start and the line's age. */
  at: number;
  /** The member's age then, ms (V8's own stamp). */
  age: number;
  kind: "scavenge" | "mark-compact" | "reduce";
}

interface Member {
  name: string;
  dir: string;
  address: string;
  child?: ChildProcess;
  started: number;
  gcs: Gc[];
}

/** Parses one `--trace-gc` line (`[pid:0x…]   40769 ms: Mark-Compact (reduce) 15.5 …`). */
function parseGc(line: string, started: number): Gc | undefined {
  const m = /^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: (Scavenge|Mark-Compact)( \(reduce\))?/.exec(line);
  if (!m) return undefined;
  const age = Number(m[1]);
  const kind = m[2] === "Scavenge" ? "scavenge" : m[3] ? "reduce" : "mark-compact";
  return { at: started + age, age, kind };
}

const members: Member[] = [];
for (let i = 0; i < N; i++) {
  members.push({
    name: `f${i}`,
    dir: mkdtempSync(join(tmpdir(), `cohort-idle-${i}-`)),
    address: `127.0.0.1:${await freePort()}`,
    started: 0,
    gcs: [],
  });
}
const api = (i: number, method: string, path: string, body?: unknown) =>
  control(members[i].dir, members[i].name, method, path, body);

async function stopAll(): Promise<void> {
  await Promise.all(members.map((m) =>
    new Promise<void>((done) => {
      const c = m.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return done();
      const kill = setTimeout(() => c.kill("SIGKILL"), 10_000);
      c.once("close", () => {
        clearTimeout(kill);
        done();
      });
      c.kill("SIGTERM");
    })
  ));
  for (const m of members) rmSync(m.dir, { recursive: true, force: true });
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => void stopAll().then(() => process.exit(130)));
}

async function start(m: Member): Promise<void> {
  m.started = Date.now();
  m.child = spawn(process.execPath, [
    ...NODE_FLAGS,
    join(DIST, "mod.js"),
    "daemon",
    "--state-dir",
    m.dir,
    "--gossip-preset",
    "lan",
    "--extensions",
    "feature_a",
  ], { stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, NO_COLOR: "1" } });
  let rest = "";
  m.child.stdout!.on("data", (d: Buffer) => {
    const lines = (rest + d.toString()).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      const gc = parseGc(line, m.started);
      if (gc) m.gcs.push(gc);
    }
  });
  const i = members.indexOf(m);
  for (let k = 0; k < 1200; k++) {
    try {
      await api(i, "GET", "/core/1.0");
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`${m.name} did not open its control socket`);
}

async function form(): Promise<void> {
  // Five at a time: many processes starting at once on 2 cores take longer than any timeout.
  for (let i = 0; i < N; i += 5) await Promise.all(members.slice(i, i + 5).map(start));
  await api(0, "POST", "/core/control", {
    bootstrap: true,
    name: members[0].name,
    address: members[0].address,
  });
  for (let i = 1; i < N; i++) {
    const m = members[i];
    const join = { bootstrap: false, name: m.name, address: m.address };
    for (let attempt = 1;; attempt++) {
      const token = await api(0, "POST", "/core/control/tokens", { name: m.name });
      try {
        await api(i, "POST", "/core/control", { ...join, join_token: token });
        break;
      } catch (err) {
        // Refused for want of token confirmations in time (a loaded machine): try again.
        if (attempt >= 5 || !/must confirm the token/.test(String(err))) throw err;
        note(`${m.name}'s join refused (${attempt}), trying again`);
        await api(0, "DELETE", `/core/control/tokens/${m.name}`).catch(() => {});
        await sleep(2000);
      }
    }
  }
  // Formed: the first and the last member list every member ONLINE.
  for (let k = 0; k < 600; k++) {
    const lists = await Promise.all([0, N - 1].map((i) => api(i, "GET", "/core/1.0/cluster")));
    const online = (l: unknown) =>
      (l as { status: string }[]).filter((e) => e.status === "ONLINE").length === N;
    if (lists.every(online)) return;
    await sleep(100);
  }
  throw new Error("the cluster did not form within 60 s");
}

try {
  note(`N=${N}: starting and forming (load ${load()})`);
  await form();
  const formed = Date.now();
  note(`formed; following ${STEPS} steps of ${STEP_MS / 1000} s (load ${load()})`);
  const pids = members.map((m) => m.child!.pid!);
  /** cpu[step][member]: % of one core. */
  const cpu: number[][] = [];
  /** full[step][member]: a full collection ran in that step. */
  const full: boolean[][] = [];
  let last = pids.map(threadRunMs);
  let t = Date.now();
  for (let s = 0; s < STEPS; s++) {
    await sleep(STEP_MS);
    const now = Date.now();
    const cur = pids.map(threadRunMs);
    cpu.push(cur.map((c, i) => (100 * (c - last[i])) / (now - t)));
    full.push(
      members.map((m) => m.gcs.some((g) => g.kind !== "scavenge" && g.at > t && g.at <= now)),
    );
    const row = cpu[s];
    const withGc = members.filter((_, i) => full[s][i]).map((m) => m.name);
    console.log(
      `+${((now - formed) / 1000).toFixed(0).padStart(4)} s: mean ${mean(row).toFixed(3)} ` +
        `median ${median(row).toFixed(3)} max ${Math.max(...row).toFixed(2)} % · ` +
        `full GC in: ${withGc.join(",") || "–"} · load ${load()}`,
    );
    last = cur;
    t = now;
  }
  console.log(`\nper member over ${(STEPS * STEP_MS) / 1000} s from forming (% of one core):`);
  const whole: number[] = [];
  const quiet: number[] = [];
  const gcCost: number[] = [];
  members.forEach((m, i) => {
    const all = cpu.map((row) => row[i]);
    const calm = all.filter((_, s) => !full[s][i]);
    const q = calm.length ? mean(calm) : NaN;
    whole.push(mean(all));
    if (calm.length) quiet.push(q);
    // What the steps with a full collection cost beyond the member's steps without one, ms.
    const extra = all.reduce((a, c, s) => a + (full[s][i] ? (c - q) * STEP_MS / 100 : 0), 0);
    if (calm.length) gcCost.push(extra);
    const fulls = m.gcs.filter((g) => g.kind !== "scavenge" && g.at > formed);
    console.log(
      `${m.name.padEnd(4)} ${mean(all).toFixed(3)} · without full GCs ${q.toFixed(3)} · ` +
        `full GCs at age ${
          fulls.map((g) =>
            `${(g.age / 1000).toFixed(1)} s${g.kind === "reduce" ? " (reduce)" : ""}`
          )
            .join(", ") || "–"
        } (≈ ${extra.toFixed(0)} ms beyond) · scavenges ${
          m.gcs.filter((g) => g.kind === "scavenge" && g.at > formed).length
        }`,
    );
  });
  console.log(
    `\nN=${N}: idle CPU per member ${mean(whole).toFixed(3)} % mean, ${
      median(whole).toFixed(3)
    } % median; without the steps holding a full GC ${mean(quiet).toFixed(3)} % mean; ` +
      `full GCs after forming cost ≈ ${mean(gcCost).toFixed(0)} ms per member; load ${load()}`,
  );
} finally {
  await stopAll();
}
process.exit(0);
