/**
 * Benchmark: time from the last member's restart (the spawn of its upgraded daemon process) to
 * every member ready (`GET /core/1.0/ready` answering 200 over each member's control socket),
 * in a rolling upgrade of a loopback cluster of 3 and of 10 members under the default `strict`
 * policy. Each round upgrades every member but the last (they wait), then restarts the last one
 * upgraded. Also measured: the share of that time that is the last process's start-up (spawn to
 * its control socket's first answer), and what is left once it answers: its first answer to every
 * member ready (issue 15's wake-up target: under 300 ms at 10 members), split in two: the last
 * member's own start after that answer (its network, the push-pulls with every other member, its
 * gating decision, the write of its new versions) until it answers ready itself, and from then
 * until every other member is ready (the waiting members hearing its new versions and opening).
 * MicroCluster takes up to 30 s here (a lost notification falls back to its 30 s timer); the
 * target is under 1 s. The machine's load (`uptime`) is printed with the table.
 *
 * The same span is also read from the members' own logs (the line saying each became ready,
 * against the bench's clock for the first answer: one machine, one clock): the bench reads
 * those lines through pipes and asks, on the same loaded cores, so its figure adds its own wait.
 *
 * With the step medians of the last member's "Rejoined the cluster" line, it prints how many
 * members it asked whether it was removed while it was down (those that had not answered its
 * push-pull in time: `lib/daemon/flows/rejoin_learn.ts`).
 *
 * `--busy K` runs K CPU-bound loops (`sh -c 'while :; do :; done'`) beside the cluster while the
 * rounds are measured (from the cluster's formation on), killed at the end.
 *
 * `--cpu-prof DIR` profiles (Node's `--cpu-prof`) the last member's upgraded process and the first
 * member's waiting one of each round, into `DIR/n<N>-round<R>/<member>/` (Node only).
 *
 * `--logs DIR` writes each round's daemon logs there (`n<N>-round<R>/<member>.log`, the previous
 * process's as `<member>.previous.log`) with the bench's own times (`times.json`, ms since the
 * epoch, as the logs' `time`); `--log-level debug` starts the daemons at that level.
 *
 * A member's readiness is asked when its log says it went online, not polled (see
 * {@link readyAt}); `--poll-ms N` polls every member every N ms instead (how this benchmark
 * measured before: 5), for comparison.
 *
 * Usage: `npm run build && tsx scripts/bench/upgrade_ready.ts [--rounds 3] [--sizes 3,10]
 *   [--poll-ms N] [--logs DIR] [--log-level debug]` (daemons run under the runtime that runs
 *   this script).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { requestJson } from "../../lib/net/client.ts";
import { isDeno, selfCommand } from "../../lib/runtime.ts";
import {
  daemonArgs,
  EXTENSIONS,
  type Member,
  stop,
  stopMembers,
} from "../../tests/helpers/cluster.ts";
import { ENTRY, startDaemonProcess } from "../../tests/helpers/process.ts";
import { formWith, logged, spawnMember, startWith } from "../../tests/helpers/upgrade.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    sizes: { type: "string", default: "3,10" },
    "poll-ms": { type: "string", default: "0" },
    logs: { type: "string" },
    "log-level": { type: "string", default: "info" },
    "cpu-prof": { type: "string" },
    busy: { type: "string", default: "0" },
  },
});
const ROUNDS = Number(values.rounds);
/** CPU-bound loops beside the cluster (at most 8). */
const BUSY = Math.max(0, Math.min(8, Number(values.busy) || 0));
const SIZES = values.sizes!.split(",").map(Number);
/** Poll every member this often instead of asking on its log lines, ms (0: do not). */
const POLL_ALL_MS = Math.max(0, Number(values["poll-ms"]) || 0);
/** How often the restarted member's control socket is tried until it first answers, ms. */
const POLL_MS = 5;
/**
 * A safety net only: how often a member's readiness is asked when no log line said it changed,
 * ms. Readiness is asked when the member logs that it went online (see {@link readyAt}); a
 * sample found by this timer instead is counted and printed, as its figure is this coarse.
 */
const FALLBACK_MS = 250;
let foundByFallback = 0;
/** How many times a member is asked again, POLL_MS apart, after a line said it may be ready. */
const RETRIES_AFTER_LINE = 40;

/** The lines after which a member may have become ready: online, or its start finished. */
const MAY_BE_READY = /"to":"online"|"msg":"Daemon started"/;

/** One `GET /core/1.0/ready` over the control socket of `m`: its status, or 0 unreachable. */
async function askReady(m: Member): Promise<number> {
  try {
    const res = await requestJson({
      method: "GET",
      path: "/core/1.0/ready",
      socketPath: join(m.dir, "control.socket"),
      timeoutMs: 2000,
    });
    return res.status;
  } catch {
    return 0; // not listening yet
  }
}

/** When the control socket of `m` (a daemon just spawned) first answers, whatever it says. */
async function firstAnswer(m: Member): Promise<number> {
  while (await askReady(m) === 0) await new Promise((r) => setTimeout(r, POLL_MS));
  return performance.now();
}

/**
 * When `m` answers `GET /core/1.0/ready` with 200. Asked once each time its log says it may
 * have become ready (the line reaching this process through its stderr pipe), not polled: ten
 * members polled every few ms cost the daemons hundreds of requests a second on the cores they
 * wake up on, and a poll interval would add its own wait. Call it before the member can log the
 * line (a restarted member: right after its spawn). A sample found with no such line seen is
 * counted ({@link FALLBACK_MS}).
 */
function readyAt(m: Member): Promise<number> {
  if (POLL_ALL_MS > 0) return polledReady(m);
  const stderr = m.daemon!.child.stderr!;
  return new Promise((resolve) => {
    let done = false;
    let asking = false;
    let again = false;
    let tail = "";
    // Asks left after a line: a member that said it went online but did not answer 200 yet
    // (its start finishes a moment later; an answer lost on a loaded machine) is asked again
    // every POLL_MS, a few times, instead of waiting for the safety poll.
    let retries = 0;
    let lineSeen = false;
    const ask = async () => {
      if (done) return;
      if (asking) {
        again = true;
        return;
      }
      asking = true;
      const status = await askReady(m);
      asking = false;
      if (status === 200 && !done) {
        done = true;
        // An answer to an ask sent before the line is as exact: only one with no line counts.
        if (!lineSeen) foundByFallback++;
        stderr.off("data", onData);
        clearInterval(timer);
        resolve(performance.now());
      } else if (again) {
        again = false;
        void ask();
      } else if (!done && retries > 0) {
        retries--;
        setTimeout(() => void ask(), POLL_MS);
      }
    };
    const onData = (chunk: Buffer | string) => {
      const lines = (tail + chunk).split("\n");
      tail = lines.pop()!;
      if (lines.some((l) => MAY_BE_READY.test(l))) {
        lineSeen = true;
        retries = RETRIES_AFTER_LINE;
        void ask();
      }
    };
    stderr.on("data", onData);
    const timer = setInterval(() => void ask(), FALLBACK_MS);
    void ask(); // it may be ready already
  });
}

/** When `m` answers `GET /core/1.0/ready` with 200, polled every {@link POLL_ALL_MS}. */
async function polledReady(m: Member): Promise<number> {
  while (await askReady(m) !== 200) await new Promise((r) => setTimeout(r, POLL_ALL_MS));
  return performance.now();
}

/** Waits until `m` logged that it waits for other members to upgrade. */
async function waiting(m: Member): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!logged(m, "Waiting for other cluster members").length) {
    if (Date.now() > deadline) throw new Error(`${m.name} does not wait:\n${m.daemon?.logs()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Sample {
  /** Spawn of the last member → every member ready, ms. */
  total: number;
  /** Spawn of the last member → its control socket's first answer, ms. */
  startup: number;
  /** Spawn of the last member → it answers ready itself, ms. */
  lastReady: number;
  /** The steps of the last member's start after its first answer, ms (its "Rejoined" line). */
  steps: Record<string, number>;
  /** How many members it asked whether it was removed (its "Rejoined" line), when it says. */
  asked?: number;
  /**
   * First answer → every member ready by the members' own logs (the time of the line saying each
   * became ready: see {@link readyLogged}), ms: without the bench's own wait to read the line
   * through the pipe and ask (its process is one more on the loaded cores).
   */
  byLogs: number;
}

/**
 * When `m` (epoch ms, its log's clock) said it became ready after `since`: the restarted member
 * once its start finished ("Daemon started"), a waiting member once it went online; `NaN` when
 * no such line came.
 */
function readyLogged(m: Member, restarted: boolean, since: number): number {
  const lines = restarted
    ? logged(m, "Daemon started")
    : logged(m, "Phase changed").filter((l) => l.to === "online");
  const at = lines.map((l) => Number(l.time)).filter((t) => t >= since);
  return at.length ? Math.min(...at) : NaN;
}

/**
 * Spawns the daemon of `m` (no wait), under Node's CPU profiler when `--cpu-prof` is given and
 * `profile` (its profile is written when the process exits).
 */
function spawnProfiled(
  m: Member,
  options: { extensions: string[]; env: Record<string, string> },
  where: { size: number; round: number; profile: boolean },
): void {
  if (!values["cpu-prof"] || !where.profile || isDeno) return spawnMember(m, options);
  const dir = join(values["cpu-prof"], `n${where.size}-round${where.round}`, m.name);
  mkdirSync(dir, { recursive: true });
  const { command, args } = selfCommand(ENTRY);
  m.daemon = startDaemonProcess(
    daemonArgs(m, options),
    { command, args: ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=250", ...args] },
    options.env,
  );
}

async function measure(size: number): Promise<Sample[]> {
  const names = Array.from({ length: size }, (_, i) => `u${i + 1}`);
  const env = { COHORT_LOG_LEVEL: values["log-level"]! };
  const list = await formWith(names, { env });
  const previous = new Map<string, string>();
  const samples: Sample[] = [];
  try {
    let extensions = EXTENSIONS;
    for (let round = 1; round <= ROUNDS; round++) {
      extensions = [...extensions, `feature_round${round}`];
      const rest = list.slice(0, -1);
      const last = list[list.length - 1];
      // Every member but the last restarts upgraded (in parallel) and waits.
      await Promise.all(rest.map(async (m) => {
        await stop(m);
        previous.set(m.name, m.daemon!.logs());
        if (m === list[0] && values["cpu-prof"]) {
          spawnProfiled(m, { extensions, env }, { size, round, profile: true });
        } else await startWith(m, { extensions, env });
        await waiting(m);
      }));
      await stop(last);
      previous.set(last.name, last.daemon!.logs());
      const t0 = performance.now();
      const epoch0 = Date.now() - t0;
      spawnProfiled(last, { extensions, env }, { size, round, profile: true });
      const [answered, ...ready] = await Promise.all([firstAnswer(last), ...list.map(readyAt)]);
      samples.push({
        total: Math.max(...ready) - t0,
        startup: answered - t0,
        lastReady: ready[ready.length - 1] - t0,
        steps: rejoinSteps(last),
        asked: logged(last, "Rejoined the cluster").at(-1)?.removal_asked,
        byLogs: Math.max(
          ...list.map((m) => readyLogged(m, m === last, Math.floor(epoch0 + t0))),
        ) - (epoch0 + answered),
      });
      if (values.logs) {
        const dir = join(values.logs, `n${size}-round${round}`);
        mkdirSync(dir, { recursive: true });
        for (const m of list) {
          writeFileSync(join(dir, `${m.name}.log`), m.daemon!.logs());
          writeFileSync(join(dir, `${m.name}.previous.log`), previous.get(m.name) ?? "");
        }
        const at = (x: number) => Math.round(epoch0 + x);
        writeFileSync(
          join(dir, "times.json"),
          JSON.stringify({
            spawned: at(t0),
            answered: at(answered),
            ready: Object.fromEntries(list.map((m, i) => [m.name, at(ready[i])])),
          }),
        );
      }
    }
  } finally {
    await stopMembers(list);
  }
  return samples;
}

/** The step times (`*_ms`) of the last "Rejoined the cluster" line of `m`. */
function rejoinSteps(m: Member): Record<string, number> {
  const line = logged(m, "Rejoined the cluster").at(-1) ?? {};
  return Object.fromEntries(
    Object.entries(line).filter(([k, v]) => k.endsWith("_ms") && typeof v === "number"),
  ) as Record<string, number>;
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const ms = (x: number) => `${Math.round(x)} ms`;

const rows: string[][] = [];
const stepLines: string[] = [];
const busy: ChildProcess[] = [];
for (let i = 0; i < BUSY; i++) {
  busy.push(spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" }));
}
process.on("exit", () => busy.forEach((b) => b.kill("SIGKILL")));
for (const size of SIZES) {
  const s = await measure(size);
  const names = [...new Set(s.flatMap((x) => Object.keys(x.steps)))];
  stepLines.push(
    `${size} members, the last member's start after its first answer (p50 / max): ${
      names.map((n) => {
        const xs = s.map((x) => x.steps[n] ?? 0);
        return `${n.replace(/_ms$/, "")} ${Math.round(p50(xs))} / ${Math.round(Math.max(...xs))}`;
      }).join(", ")
    } ms${
      s.some((x) => typeof x.asked === "number")
        ? `; members asked whether it was removed (p50 / max): ${
          p50(s.map((x) => x.asked ?? 0))
        } / ${Math.max(...s.map((x) => x.asked ?? 0))}`
        : ""
    }`,
  );
  const total = s.map((x) => x.total);
  const startup = s.map((x) => x.startup);
  const wake = s.map((x) => x.total - x.startup);
  const own = s.map((x) => x.lastReady - x.startup);
  const others = s.map((x) => x.total - x.lastReady);
  const byLogs = s.map((x) => x.byLogs).filter((x) => Number.isFinite(x));
  rows.push([
    String(size),
    String(s.length),
    ms(p50(total)),
    ms(Math.max(...total)),
    ms(p50(startup)),
    `${Math.round((100 * p50(startup)) / p50(total))} %`,
    ms(p50(wake)),
    ms(Math.max(...wake)),
    ms(p50(own)),
    ms(p50(others)),
    ms(Math.max(...others)),
    byLogs.length ? ms(p50(byLogs)) : "-",
    byLogs.length ? ms(Math.max(...byLogs)) : "-",
  ]);
}
busy.forEach((b) => b.kill("SIGKILL"));
const head = [
  "members",
  "rounds",
  "p50 restart→all ready",
  "max",
  "p50 process start-up",
  "share",
  "p50 first answer→all ready",
  "max",
  "of which: p50 its own start",
  "p50 it ready→all ready",
  "max",
  "p50 first answer→all ready by their logs",
  "max",
];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
process.stdout.write(
  `runtime: ${isDeno ? "deno" : "node"} (last member restarted upgraded; ready over every ` +
    `control socket; MicroCluster: up to 30 s; target < 1 s; first answer→all ready: < 300 ms ` +
    `at 10; ${
      POLL_ALL_MS ? `every member polled every ${POLL_ALL_MS} ms` : "asked on its log lines"
    }, ${foundByFallback} found by the ${FALLBACK_MS} ms safety poll; ${BUSY} busy loop(s))\n${
      spawnSync("uptime", { encoding: "utf8" }).stdout.trim()
    }\n${line(head)}\n${rows.map(line).join("\n")}\n${stepLines.join("\n")}\n`,
);
