/**
 * Helpers for end-to-end tests: run the real `cohort` entry point as a child process with the
 * runtime the tests run on (`node dist/mod.js` under Node, `deno run -A mod.ts` under Deno; a
 * command other than `daemon` under Node runs the installed command, `dist/cli.cjs`).
 *
 * Every process started here dies with the test process, on every exit path: a normal end or
 * an uncaught exception (an exit hook kills the children still running), SIGINT, SIGTERM or
 * SIGHUP (killed, then the test process exits), and SIGKILL, where no hook runs: every child is
 * started with a leash (`leash.mjs`) that kills it once its parent is gone. Under the test
 * runner, each test file's process group is also killed when the file ends.
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isDeno, selfCommand } from "../../lib/runtime.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
/** The entry file for the current runtime. */
export const ENTRY = isDeno ? join(root, "mod.ts") : join(root, "dist", "mod.js");
/**
 * The command line's entry for the current runtime: under Node the package's `bin`, the bundled
 * `dist/cli.cjs` an installed `cohort` runs (it starts in half the time of `dist/mod.js`, which
 * loads the whole library first; daemons still start from `dist/mod.js`).
 */
export const CLI_ENTRY = isDeno ? ENTRY : join(root, "dist", "cli.cjs");
const LEASH = join(root, "tests", "helpers", "leash.mjs");
const CRASH_POINT = join(root, "tests", "helpers", "crash_point.mjs");

/** Children started by this module and not yet exited. */
const running = new Set<ChildProcess>();
let hooked = false;

function killRunning(): void {
  for (const child of running) {
    try {
      if (child.pid) process.kill(child.pid, "SIGKILL");
    } catch { /* already gone */ }
  }
  running.clear();
}

/** Installs the exit and signal hooks once, at the first child. */
function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killRunning);
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    process.on(signal, () => {
      killRunning();
      process.exit(code);
    });
  }
}

/**
 * `command args` with `preloads` (default: the leash) loaded first: `node --import …` or `deno
 * run --preload …` (the runtime is told apart by the command's name); other commands are left
 * as they are.
 */
export function leashed(command: string, args: string[], preloads = [LEASH]): string[] {
  const name = basename(command);
  if (/^deno(\.exe)?$/.test(name) && args[0] === "run") {
    return ["run", ...preloads.flatMap((p) => ["--preload", p]), ...args.slice(1)];
  }
  if ((command === process.execPath && !isDeno) || /^node(\.exe)?$/.test(name)) {
    return [...preloads.flatMap((p) => ["--import", pathToFileURL(p).href]), ...args];
  }
  return args;
}

/**
 * Spawns a child that dies with this process (see the module docs). With
 * `COHORT_TEST_CRASH_ON` in `options.env`, the child also loads the crash point
 * (`crash_point.mjs`), which kills it with SIGKILL on the log line named there.
 */
export function spawnTracked(
  command: string,
  args: string[],
  options: Parameters<typeof spawn>[2],
): ChildProcess {
  hook();
  const preloads = options?.env?.COHORT_TEST_CRASH_ON ? [LEASH, CRASH_POINT] : [LEASH];
  const child = spawn(command, leashed(command, args, preloads), options);
  running.add(child);
  child.on("exit", () => running.delete(child));
  child.on("error", () => running.delete(child));
  return child;
}

/** The result of a finished CLI command. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** What `child` prints, and its exit code once it closed (-1 when a signal ended it). */
export function outcome(child: ChildProcess): Promise<Run> {
  return new Promise((done, fail) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs `cohort <args>` to completion (see {@link CLI_ENTRY}), with `env` added to its environment. */
export function cohort(
  args: string[],
  input?: string,
  env: Record<string, string> = {},
): Promise<Run> {
  const { command, args: prefix } = selfCommand(CLI_ENTRY);
  const child = spawnTracked(command, [...prefix, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  const run = outcome(child);
  child.stdin!.end(input ?? "");
  return run;
}

/**
 * Runs `cohort <args>` to completion behind a shell pipeline whose writer prints `line` only
 * after `delayMs`: `sh -c '(sleep …; printf …) | exec cohort …'`, the way a user pipes one
 * command into another (the pipe is the shell's, not a socket pair of the test's).
 */
export function cohortPiped(args: string[], line: string, delayMs = 1000): Promise<Run> {
  const { command, args: prefix } = selfCommand(CLI_ENTRY);
  const script = `(sleep ${delayMs / 1000}; printf "%s\\n" "$LINE") | exec "$@"`;
  const child = spawnTracked("sh", ["-c", script, "sh", command, ...prefix, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", LINE: line },
  });
  return outcome(child);
}

/** A daemon child process and its collected stderr (JSON log lines). */
export interface DaemonProcess {
  child: ChildProcess;
  logs(): string;
  /** Its exit code (-1 when killed by a signal); the test process waits for it once asked. */
  readonly exited: Promise<number>;
}

/**
 * Starts `cohort daemon <args>` in the background, with the test's runtime unless `entry` names
 * another command (e.g. `deno run -A mod.ts` from a Node test).
 */
export function startDaemonProcess(
  args: string[],
  entry?: { command: string; args: string[] },
  env: Record<string, string> = {},
): DaemonProcess {
  const { command, args: prefix } = entry ?? selfCommand(ENTRY);
  const child = spawnTracked(command, [...prefix, "daemon", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NO_COLOR: "1", COHORT_LOG_LEVEL: "info", ...env },
  });
  let logs = "";
  child.stderr!.on("data", (d) => (logs += d));
  // A daemon does not keep the test process alive by itself: a test that fails before it stops
  // its daemons must still let its file end (the exit hook then kills them). Only waiting for
  // its exit does, through a timer held until then.
  let holding: ReturnType<typeof setInterval> | undefined;
  let ended = false;
  const closed = new Promise<number>((done) =>
    child.on("close", (code) => {
      ended = true;
      clearInterval(holding);
      done(code ?? -1);
    })
  );
  unref(child);
  unref(child.stderr);
  return {
    child,
    logs: () => logs,
    get exited() {
      if (!ended) holding ??= setInterval(() => {}, 60_000);
      return closed;
    },
  };
}

/**
 * Waits until `d` exits on its own (a refused start, a stop it was asked for), at most `ms`:
 * then it is killed and the wait fails with its last log lines, so a member that never exits
 * fails its test with the reason instead of hanging the file until the runner's time limit.
 */
export async function exitOf(d: DaemonProcess, what: string, ms = 90_000): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((done) => (timer = setTimeout(() => done("late"), ms)));
  const code = await Promise.race([d.exited, late]);
  clearTimeout(timer);
  if (code !== "late") return code;
  try {
    d.child.kill("SIGKILL");
  } catch { /* gone meanwhile */ }
  throw new Error(`${what} did not exit within ${ms} ms; its last log lines:\n${lastLines(d)}`);
}

/** The last `n` lines `d` logged (JSON log lines, oldest first). */
export function lastLines(d: DaemonProcess, n = 40): string {
  return d.logs().trimEnd().split("\n").slice(-n).join("\n");
}

function unref(handle: unknown): void {
  try {
    (handle as { unref?(): void } | null)?.unref?.();
  } catch { /* not supported for this handle on this runtime */ }
}

/** A fresh temporary directory; remove it with {@link removeDir}. */
export function tempDir(prefix = "cohort-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Removes a directory tree, ignoring errors. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Where {@link freePort} looks: below Linux's ephemeral range (32768–60999), from which the kernel
 * picks the local port of every outgoing connection. A port taken from that range (`listen(0)`)
 * and bound seconds later by a daemon could meanwhile be the local end of some connection (on a
 * busy machine, some test's gossip or HTTP): the daemon then failed with EADDRINUSE.
 */
const PORTS = { first: 10_000, count: 22_000 };
/** This process's next port to try: a walk from a random start, so that processes rarely meet. */
let nextPort = Math.floor(Math.random() * PORTS.count);

/** Whether `port` can be listened on at 127.0.0.1 right now. */
function listenable(port: number): Promise<number | undefined> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(undefined));
    server.listen(port, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/**
 * A TCP port that was free a moment ago on 127.0.0.1, outside the ephemeral range (see
 * {@link PORTS}); one the kernel picks if none of a hundred there is free.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = PORTS.first + (nextPort++ % PORTS.count);
    const free = await listenable(port);
    if (free) return free;
  }
  const any = await listenable(0);
  if (any === undefined) throw new Error("no free TCP port on 127.0.0.1");
  return any;
}

/**
 * Waits until the daemon of `stateDir` answers on its control socket (started, maybe not
 * initialised). Throws with the daemon's logs when it exits or does not answer in time. The
 * default is generous: a dozen daemons starting at once on a busy 2-core machine take seconds
 * each.
 */
export async function waitForSocket(
  stateDir: string,
  daemon?: DaemonProcess,
  timeoutMs = 60_000,
): Promise<void> {
  const { requestJson } = await import("../../lib/net/client.ts");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // Killed by a signal (a crash point's SIGKILL), it has no exit code: without the signal,
    // the wait would run to its time limit.
    const ended = daemon && (daemon.child.exitCode ?? daemon.child.signalCode);
    if (ended !== undefined && ended !== null) {
      throw new Error(`daemon exited with ${ended}:\n${daemon!.logs()}`);
    }
    try {
      await requestJson({
        method: "GET",
        path: "/core/1.0",
        socketPath: join(stateDir, "control.socket"),
        timeoutMs: 1000,
      });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`daemon did not answer within ${timeoutMs} ms:\n${daemon?.logs() ?? ""}`);
}
