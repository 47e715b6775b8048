/**
 * The one test command (`npm test`): static checks and every uvu test file under Node and under
 * Deno, then the slowest files, the files that used the most CPU, and a closing line
 * `N passed, N failed` that CI reads.
 *
 * Usage: `tsx scripts/test.ts [--build] [--runtime node|deno]… [--no-checks] [--faults]
 * [--jobs N] [--light N] [--timeout S] [pattern]`
 * - `--build` runs `npm run build` first (`npm test` does): the test files start once `dist/` is
 *   built, the static checks at once, beside the build (they read the sources only; the build's
 *   emit runs on one core, the type check on the other).
 * - `pattern` is a regular expression (case-insensitive) over test file paths below `tests/`,
 *   e.g. `e2e/remove` (default: every `*.test.ts`).
 * - `--faults` runs the fault matrix instead (`tests/faults/*.fault.ts`: network namespaces,
 *   root; `npm run test:faults`): no static checks, one file at a time, 40 minutes per file.
 * - `--jobs N` runs N test files at once (default 3, or `$COHORT_TEST_JOBS`): a file spends most
 *   of its time waiting on daemons, gossip rounds and timers, so two at a time left the two cores
 *   of a CI machine half idle.
 * - `--verbose` prints every file's output; by default a file that passed gets one line, and
 *   only a file that failed, timed out or left processes running gets its whole output.
 * - `--light N` runs up to N light files beside those (default 1, or `$COHORT_TEST_LIGHT`; 0
 *   with `--faults`): a file that used under a quarter of a core over its wall time in the last
 *   run (it waits on a deadline, a sweep, a timer), which would otherwise hold one of the `--jobs`
 *   slots while the cores have room. The files' wall times, not their CPU, were what a whole run
 *   took: their sum over three slots came within 2 % of the run's time, while the CPU they used
 *   would have kept the two cores busy for three quarters of it.
 * - `--timeout S` is each test file's time limit in seconds (default 420, or
 *   `$COHORT_TEST_TIMEOUT`): generous, because a busy 2-core CI machine runs the slowest file
 *   several times slower than an idle one.
 *
 * Each file runs as its own process (uvu with a pattern naming that one file), the leader of a
 * process group of its own, with `TMPDIR` set to a directory of its own (removed after it) and
 * `COHORT_TEST_SHARED` to one folder for the run, where the files that need the packed tarball
 * and an installed app make them once (`tests/helpers/packed.ts`).
 * Whatever it starts (daemons, CLI commands, certificate processes) stays in that group and dies
 * with it: when the file ends (anything still running after a grace period is killed and
 * reported), when it printed its summary but processes it started keep it from exiting (a failed
 * test left a daemon running: killed after 10 s and counted as a failure), when it times out, when the runner is interrupted,
 * and when the runner is killed (see `scripts/test/process_groups.ts`). Files run longest first,
 * by the times of the last run (kept in `.tmp/test-times.json`, which `npm ci` leaves; on a fresh
 * clone, by the committed `scripts/test/times.json`), never the same file under both runtimes at
 * once, a file that says `cohort-test: alone` with no other file beside it, and one that says
 * `cohort-test: one runtime` under the first runtime only. The static checks run one after
 * another beside the first test files.
 *
 * uvu files are run with `deno run -A`, never `deno test`, which would report them as passing
 * without running them.
 */
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { type GroupMember, groupMembers, ProcessGroups } from "./test/process_groups.ts";

const root = resolve(import.meta.dirname ?? ".", "..");
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runtime: { type: "string", multiple: true },
    build: { type: "boolean", default: false },
    "no-checks": { type: "boolean", default: false },
    faults: { type: "boolean", default: false },
    jobs: { type: "string" },
    light: { type: "string" },
    verbose: { type: "boolean", default: false },
    timeout: { type: "string" },
  },
});

function positive(
  name: string,
  text: string | undefined,
  fallback: number,
  zero = false,
): number {
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zero)) {
    console.error(`${name} must be a ${zero ? "non-negative" : "positive"} number, got "${text}"`);
    process.exit(2);
  }
  return n;
}

const runtimes = values.runtime ?? ["node", "deno"];
for (const r of runtimes) {
  if (r !== "node" && r !== "deno") {
    console.error(`--runtime must be node or deno, got "${r}"`);
    process.exit(2);
  }
}
const jobs = Math.floor(
  positive("--jobs", values.jobs ?? process.env.COHORT_TEST_JOBS, values.faults ? 1 : 3),
);
/** Light files run beside the `jobs` (see the usage); `--light 0` turns it off. */
const lightLanes = values.faults ? 0 : Math.floor(
  positive("--light", values.light ?? process.env.COHORT_TEST_LIGHT, 1, true),
);
const fileTimeoutMs = positive(
  "--timeout",
  values.timeout ?? process.env.COHORT_TEST_TIMEOUT,
  values.faults ? 2400 : 420,
) * 1000;
/** How long a file's processes may outlive it (a certificate process ending its start-up). */
const SWEEP_GRACE_MS = 10_000;
/** How long a file may take to exit once uvu printed its summary. */
const HANG_GRACE_MS = 10_000;
const CHECK_TIMEOUT_MS = 600_000;
const suffix = values.faults ? "\\.fault\\.ts$" : "\\.test\\.ts$";
const pattern = new RegExp(
  positionals[0] ? `^(?=.*(?:${positionals[0]})).*${suffix}` : suffix,
  "i",
);
const bin = (name: string) => resolve(root, "node_modules/.bin", name);
const uvu = resolve(root, "node_modules/uvu/bin.js");

const tmpRoot = mkdtempSync(join(tmpdir(), "cohort-run-"));
/**
 * What the test files of this run share, made once by the first that needs it (the packed
 * tarball and an installed app: `tests/helpers/packed.ts`); removed with the run.
 */
const sharedDir = join(tmpRoot, "shared");
mkdirSync(sharedDir);
const groups = new ProcessGroups(tmpRoot);
let interrupted = false;

process.on("exit", () => {
  groups.killAll();
  rmSync(tmpRoot, { recursive: true, force: true });
});
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stdout.write(`\n${signal}: killing every test process\n`);
    process.exit(code); // the exit handler kills the groups
  });
}

/** What one run (a check or a test file) came to. */
interface Outcome {
  label: string;
  code: number;
  output: string;
  ms: number;
  timedOut: boolean;
  /** It finished its tests but did not exit: processes it started kept it alive. */
  hung: boolean;
  /** Processes of its group still running after it ended (or that kept it from ending). */
  left: GroupMember[];
  /**
   * How long it took to exit after uvu printed its summary, ms (0 when it printed none): time
   * no test used, spent on a timer or handle left pending.
   */
  lingerMs: number;
  /** CPU time it and the processes it waited for used, ms ({@link endedChildrenCpuMs}). */
  cpuMs?: number;
}

/** Linux's clock tick (`getconf CLK_TCK`), the unit of `/proc/self/stat`'s times. */
const CLOCK_TICK_MS = 10;
/**
 * CPU time (user and system, ms) of the runner's children that ended and were waited for, and
 * of what they waited for in turn (a test file's daemons and commands): `/proc/self/stat`'s
 * cutime and cstime; undefined without `/proc`. Read when a child's exit is reported, the
 * difference from the previous reading is that child's (approximately: two children reaped in
 * one turn count as one; processes killed after their file ended are not counted). On a
 * machine whose cores are shared, the wall time a file takes depends on everything else
 * running; its CPU time hardly does.
 */
function endedChildrenCpuMs(): number | undefined {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    // Fields after the command name (which may hold spaces): state is field 3, cutime 16,
    // cstime 17.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[13]) + Number(f[14])) * CLOCK_TICK_MS;
  } catch {
    return undefined;
  }
}
let cpuSeen = endedChildrenCpuMs();

let nextDir = 0;
/** Removals of the files' `TMPDIR`s still under way. */
const removals: Promise<void>[] = [];

/**
 * tsx keeps what it compiled in `$TMPDIR/tsx-<uid>`: with a `TMPDIR` of its own, each file (and
 * each tsx process it starts) would compile every module it loads again. A link to the runner's
 * own cache keeps one cache for the run (tsx ignores an entry it cannot read, and writes whole
 * files under names of their own).
 */
const tsxCache = join(tmpdir(), `tsx-${process.geteuid?.() ?? userInfo().username}`);
function shareTsxCache(dir: string): void {
  try {
    mkdirSync(tsxCache, { recursive: true });
    symlinkSync(tsxCache, join(dir, basename(tsxCache)));
  } catch { /* only a cache */ }
}

/**
 * The environment of the test files and what they start: the runner's own, without
 * `NODE_EXTRA_CA_CERTS`. Node reads and parses the file it names before any code runs, in every
 * process: with a system bundle (144 certificates on the project's machines) 48 ms of CPU per
 * start, and a run starts well over a thousand Node processes (daemons, CLI commands, their
 * certificate processes). No test verifies a peer against a public authority: every TLS peer in
 * a test presents cohort's own certificates.
 */
const testEnv: NodeJS.ProcessEnv = { ...process.env };
delete testEnv.NODE_EXTRA_CA_CERTS;

/** Runs one command in a process group of its own; kills the group on timeout and at its end. */
function run(label: string, command: string, args: string[], timeoutMs: number): Promise<Outcome> {
  return new Promise((done) => {
    const started = Date.now();
    const dir = join(tmpRoot, String(nextDir++));
    mkdirSync(dir);
    shareTsxCache(dir);
    const child = groups.spawn(command, args, {
      cwd: root,
      env: {
        ...testEnv,
        NO_COLOR: "1",
        FORCE_COLOR: "0",
        TMPDIR: dir,
        COHORT_TEST_SHARED: sharedDir,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const closed = new Promise((r) => child.once("close", r));
    let output = "";
    let hung: GroupMember[] | undefined;
    let hangTimer: ReturnType<typeof setInterval> | undefined;
    let summaryAt: number | undefined;
    const onData = (chunk: Buffer) => {
      output += chunk;
      // uvu's summary ends with its duration: from then on the process has nothing left to do
      // but exit. A test that left a daemon running keeps it alive until the time limit.
      if (!hangTimer && /Duration:\s/.test(output.slice(-300))) {
        summaryAt = Date.now();
        hangTimer = setInterval(() => {
          if (!child.pid) return;
          // A pending timer or socket of its own may delay its exit for a while: only processes
          // it started (besides tsx's esbuild service) make it a hang.
          const others = groupMembers(child.pid).filter((p) =>
            p.pid !== child.pid && !/esbuild(\.exe)? --service=/.test(p.command)
          );
          if (others.length === 0) return;
          hung = others;
          groups.kill(child.pid);
        }, HANG_GRACE_MS);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) groups.kill(child.pid);
    }, timeoutMs);
    let exited = false;
    const finish = async (code: number) => {
      if (exited) return;
      exited = true;
      const cpuNow = endedChildrenCpuMs();
      const cpuMs = cpuNow === undefined || cpuSeen === undefined ? undefined : cpuNow - cpuSeen;
      cpuSeen = cpuNow;
      const lingerMs = summaryAt === undefined ? 0 : Date.now() - summaryAt;
      clearTimeout(timer);
      clearInterval(hangTimer);
      const left = hung ?? (child.pid ? await groups.sweep(child.pid, SWEEP_GRACE_MS) : []);
      if (hung && child.pid) await groups.sweep(child.pid, 0);
      // The output pipes close once no process of the group holds them (a process that left the
      // group could hold them for ever: do not wait for it long).
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
      // In the background: a file's scratch folders (an installed app, a copy of the checkout)
      // take seconds to remove on a loaded machine, which need not hold its slot.
      removals.push(rm(dir, { recursive: true, force: true }).catch(() => {}));
      done({
        label,
        code,
        output,
        ms: Date.now() - started,
        timedOut,
        hung: !!hung,
        left,
        lingerMs,
        cpuMs,
      });
    };
    child.on("error", (err) => {
      output += `${err}\n`;
      void finish(1);
    });
    child.on("exit", (code, signal) => void finish(code ?? (signal ? 1 : 0)));
  });
}

/** `in W s` (wall), and `, C s CPU` when the file's CPU time is known. */
function took(o: Outcome): string {
  const cpu = o.cpuMs === undefined ? "" : `, ${(o.cpuMs / 1000).toFixed(1)} s CPU`;
  return `in ${(o.ms / 1000).toFixed(1)} s${cpu}`;
}

function report(o: Outcome, verdict: string, ok: boolean): void {
  if (ok && o.left.length === 0 && !values.verbose) {
    process.stdout.write(`--- ${o.label}: ${verdict} ${took(o)}\n`);
    return;
  }
  const lines = [`\n=== ${o.label}\n`, o.output];
  if (o.timedOut) lines.push(`\n${o.label}: timed out after ${fileTimeoutMs / 1000} s\n`);
  if (o.hung) {
    lines.push(
      `\n${o.label}: its tests ended but processes it started kept it running; killed:\n`,
    );
    for (const p of o.left) lines.push(`  ${p.pid} ${p.command.slice(0, 200)}\n`);
  } else if (o.left.length > 0) {
    lines.push(
      `\n${o.label}: ${o.left.length} process(es) still running after it ended, killed:\n`,
    );
    for (const p of o.left) lines.push(`  ${p.pid} ${p.command.slice(0, 200)}\n`);
  }
  lines.push(`--- ${o.label}: ${verdict} ${took(o)}\n`);
  process.stdout.write(lines.join(""));
}

let passed = 0;
let failed = 0;
let skipped = 0;
const timings: Outcome[] = [];
const leftovers: Outcome[] = [];

async function check(label: string, command: string, args: string[]): Promise<void> {
  const o = await run(label, command, args, CHECK_TIMEOUT_MS);
  if (o.code === 0 && !o.timedOut) passed++;
  else failed++;
  const ok = o.code === 0 && !o.timedOut;
  report(o, ok ? "ok" : `FAILED (exit ${o.code})`, ok);
}

const TIMES = resolve(root, ".tmp/test-times.json");
/** Each file's CPU time in the last run that ran it, ms, by label (see {@link CPU_HINTS}). */
const CPU = resolve(root, ".tmp/test-cpu.json");
/**
 * Each file's duration in one whole run (a busy 2-core machine), ms, by label: the order on a
 * fresh clone (CI), where `.tmp/test-times.json` is not there yet. Regenerate it from that file
 * after a whole run when files were added or their times changed a lot.
 */
const HINTS = resolve(root, "scripts/test/times.json");
/**
 * Each file's CPU time in the same run as {@link HINTS}, ms, by label: with its duration, which
 * files are light (see the usage) on a fresh clone. Regenerate it with HINTS, from
 * `.tmp/test-cpu.json`.
 */
const CPU_HINTS = resolve(root, "scripts/test/cpu.json");

/** Each file's duration (or CPU time) in the last run that ran it, ms, by label (`node e2e/x.test.ts`). */
function readTimes(file = TIMES): Record<string, number> {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return {};
  }
}

function writeTimes(file: string, before: Record<string, number>, runs: Outcome[]): void {
  const after = { ...before };
  for (const o of runs) {
    if (o.timedOut) continue;
    const value = file === CPU ? o.cpuMs : o.ms;
    if (value !== undefined) after[o.label] = value;
  }
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(after, null, 1) + "\n");
  } catch { /* only an ordering hint */ }
}

/** The test files below `tests/` that match the pattern, as uvu names them (`e2e/x.test.ts`). */
function testFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(join(root, "tests"), path));
    }
  };
  walk(join(root, "tests"));
  return out.filter((f) => pattern.test(f)).sort();
}

async function testFile(runtime: string, file: string): Promise<void> {
  const only = `^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`;
  const [command, args] = runtime === "deno"
    ? [bin("deno"), ["run", "-A", uvu, "tests", only]]
    : [process.execPath, ["--import", "tsx", uvu, "tests", only]];
  const o = await run(`${runtime} ${file}`, command, args, fileTimeoutMs);
  // deno-lint-ignore no-control-regex
  const plain = o.output.replace(/\x1b\[[0-9;]*m/g, "");
  const num = (re: RegExp) => Number(plain.match(re)?.[1] ?? 0);
  const total = num(/Total:\s+(\d+)/);
  const ok = num(/Passed:\s+(\d+)/);
  const skip = num(/Skipped:\s+(\d+)/);
  // uvu's Total counts the tests that ran: skipped ones are not in it.
  let bad = total - ok;
  // A crash before uvu's summary (a file that fails to load, a timeout) still counts as a failure.
  if ((o.code !== 0 || o.timedOut || o.hung) && bad <= 0) bad = 1;
  // So does a file in which no test ran (a suite never `run()`, a test file with no test in it):
  // it can never fail, so it proves nothing.
  const empty = total === 0 && skip === 0 && bad <= 0;
  if (empty) bad = 1;
  passed += ok;
  skipped += skip;
  failed += bad;
  timings.push(o);
  if (o.left.length > 0) leftovers.push(o);
  const passedText = `${ok} passed${skip ? `, ${skip} skipped` : ""}`;
  const verdict = empty
    ? "FAILED (no test ran: is a suite never run()?)"
    : `FAILED (${bad} failed, exit ${o.code})`;
  report(o, bad === 0 ? passedText : verdict, bad === 0);
}

/**
 * `npm run build` when asked (`--build`); resolves to whether the test files can run (dist/ was
 * built, or nobody asked).
 */
async function build(): Promise<boolean> {
  if (!values.build) return true;
  const o = await run("build (npm run build)", "npm", ["run", "build"], CHECK_TIMEOUT_MS);
  const ok = o.code === 0 && !o.timedOut;
  if (!ok) failed++;
  report(o, ok ? "ok" : `FAILED (exit ${o.code}): the test files are not run`, ok);
  return ok;
}

/**
 * The static checks, one after another, beside the build and the first test files rather than
 * before them: they read the sources only, and the longest test files spend most of their time
 * waiting on daemons.
 */
async function checks(): Promise<void> {
  if (values["no-checks"] || values.faults) return;
  await check("type check (tsc --noEmit)", bin("tsc"), ["--noEmit", "-p", "tsconfig.json"]);
  await check("deno lint", bin("deno"), ["lint", "--quiet"]);
  await check("deno fmt --check", bin("deno"), ["fmt", "--check", "--quiet"]);
  await check("import rules", process.execPath, [
    "--import",
    "tsx",
    resolve(root, "scripts/check_imports.ts"),
  ]);
}

const files = testFiles();
// Longest first (from the last run's times; end-to-end files first when unknown), so that short
// files fill the gaps at the end instead of a long one starting last.
const known = readTimes();
const knownCpu = readTimes(CPU);
const hints = readTimes(HINTS);
const cpuHints = readTimes(CPU_HINTS);
const estimate = (label: string, file: string) =>
  known[label] ?? hints[label] ?? (file.startsWith("e2e/") ? 60_000 : 2_000);
/** Below this share of a core over its wall time (in the last run), a file is light. */
const LIGHT_RATE = 0.25;
/**
 * Whether a file was light in the last run that measured it (its duration and CPU time from
 * the same run: the last run's, else the hints'); a file never measured is not.
 */
const light = (label: string): boolean => {
  const [ms, cpu] = known[label] !== undefined && knownCpu[label] !== undefined
    ? [known[label], knownCpu[label]]
    : [hints[label], cpuHints[label]];
  return ms !== undefined && cpu !== undefined && ms > 0 && cpu / ms < LIGHT_RATE;
};
/**
 * A file whose module text says `cohort-test: one runtime` runs under the first runtime asked
 * for only: what it tests runs in processes of its own (npm, tsc, deno), whichever runtime
 * drives it.
 */
const oneRuntime = (file: string) =>
  readFileSync(join(root, "tests", file), "utf8").includes("cohort-test: one runtime");
const queue = files
  .flatMap((f) =>
    (oneRuntime(f) ? runtimes.slice(0, 1) : runtimes)
      .map((r) => ({ runtime: r, file: f, label: `${r} ${f}` }))
  )
  .sort((a, b) => estimate(b.label, b.file) - estimate(a.label, a.file));
const busy = new Set<string>();
/** The next job, preferring one whose file is not running in the other runtime right now. */
const next = () => {
  const i = queue.findIndex((j) => !busy.has(j.file));
  return queue.splice(i === -1 ? 0 : i, 1)[0];
};
/**
 * The next light job whose file is not running in the other runtime (nor runs alone); `wait`
 * when there are light jobs but each one's file is running, `undefined` when none is left.
 */
const nextLight = (): typeof queue[number] | "wait" | undefined => {
  const lights = queue.filter((j) => light(j.label) && !alone(j.file));
  const job = lights.find((j) => !busy.has(j.file));
  if (!job) return lights.length > 0 ? "wait" : undefined;
  return queue.splice(queue.indexOf(job), 1)[0];
};
/**
 * A file whose module text says `cohort-test: alone` runs with no other file beside it (it
 * rebuilds `dist/`, which files running beside it load).
 */
const alone = (file: string) =>
  readFileSync(join(root, "tests", file), "utf8").includes("cohort-test: alone");
/**
 * What the files after an `alone` one load from `dist/`. That file rebuilds `dist/`; if it was
 * killed part-way (its time limit, under load), every later file that starts a daemon would fail
 * with no reason given, so the runner builds again before going on.
 */
const BUILT = ["dist/mod.js", "dist/cli.cjs", "dist/lib/net/cert_process.js", "dist/openapi.json"];
function ensureBuilt(after: string): void {
  const missing = BUILT.filter((f) => !existsSync(join(root, f)));
  const migrations = join(root, "dist/lib/store/migrations");
  if (!existsSync(migrations) || readdirSync(migrations).length === 0) missing.push(migrations);
  if (missing.length === 0) return;
  console.log(`--- ${after} left dist/ incomplete (${missing.join(", ")}): npm run build`);
  const r = spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.log("--- npm run build failed: the files after it cannot run");
    failed++;
  }
}
let active = 0;
let exclusive = false;
let pendingAlone = 0;
const waiting: (() => void)[] = [];
async function admit(solo: boolean): Promise<void> {
  if (solo) pendingAlone++;
  while (exclusive || (solo ? active > 0 : pendingAlone > 0)) {
    await new Promise<void>((r) => waiting.push(r));
  }
  if (solo) pendingAlone--;
  active++;
  exclusive = solo;
}
function leave(): void {
  active--;
  exclusive = false;
  for (const w of waiting.splice(0)) w();
}
/** Resolved whenever a file ends (a light lane waiting for a file's other runtime to end). */
let ended: () => void = () => {};
let fileEnded = new Promise<void>((r) => (ended = r));
async function runJob(job: typeof queue[number]): Promise<void> {
  const solo = alone(job.file);
  busy.add(job.file);
  await admit(solo);
  await testFile(job.runtime, job.file);
  if (solo) ensureBuilt(job.label);
  leave();
  busy.delete(job.file);
  const was = ended;
  fileEnded = new Promise<void>((r) => (ended = r));
  was();
}
const started = Date.now();
const built = build();
await Promise.all([
  checks(),
  ...Array.from({ length: Math.min(jobs, queue.length) }, async () => {
    if (!(await built)) return;
    for (let job = next(); job; job = next()) await runJob(job);
  }),
  ...Array.from({ length: lightLanes }, async () => {
    if (!(await built)) return;
    for (let job = nextLight(); job; job = nextLight()) {
      if (job === "wait") await fileEnded;
      else await runJob(job);
    }
  }),
]);
writeTimes(TIMES, known, timings);
writeTimes(CPU, knownCpu, timings);
await Promise.all(removals);
if (files.length === 0) {
  console.log(`\nNo test file matches ${pattern}`);
  failed++;
}

groups.close();
const slowest = [...timings].sort((a, b) => b.ms - a.ms).slice(0, 8);
if (slowest.length > 0) {
  console.log(
    `\nSlowest files (of ${timings.length}, ${jobs} at a time` +
      (lightLanes ? ` and up to ${lightLanes} light beside them, ` : ", ") +
      `${((Date.now() - started) / 1000).toFixed(0)} s in all):`,
  );
  for (const o of slowest) console.log(`  ${(o.ms / 1000).toFixed(1).padStart(6)} s  ${o.label}`);
}
const measured = timings.filter((o) => o.cpuMs !== undefined);
if (measured.length > 0) {
  const cpu = (o: Outcome) => o.cpuMs ?? 0;
  const total = measured.reduce((sum, o) => sum + cpu(o), 0);
  console.log(
    `\nMost CPU (of ${(total / 1000).toFixed(0)} s used by the test files and what they ` +
      "started; wall time on a shared machine follows it):",
  );
  for (const o of [...measured].sort((a, b) => cpu(b) - cpu(a)).slice(0, 8)) {
    console.log(`  ${(cpu(o) / 1000).toFixed(1).padStart(6)} s  ${o.label}`);
  }
}
/** Past this, a file's exit after its summary is worth a look (a timer or handle left pending). */
const LINGER_NOTE_MS = 3000;
const lingering = timings.filter((o) => o.lingerMs > LINGER_NOTE_MS && !o.hung)
  .sort((a, b) => b.lingerMs - a.lingerMs);
if (lingering.length > 0) {
  console.log(
    `\nFiles that took over ${LINGER_NOTE_MS / 1000} s to exit after their last test ` +
      "(a timer or handle left pending):",
  );
  for (const o of lingering) {
    console.log(`  ${(o.lingerMs / 1000).toFixed(1).padStart(6)} s  ${o.label}`);
  }
}
if (leftovers.length > 0) {
  console.log("\nFiles that left processes running after they ended (killed by the runner):");
  for (const o of leftovers) console.log(`  ${o.label}: ${o.left.length}`);
}
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 ? 0 : 1);
