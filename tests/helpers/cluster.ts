/**
 * Helpers for end-to-end cluster tests: member daemons as real processes on loopback, each with
 * its own temporary state directory and port, driven through the real CLI and the control socket.
 * Every process is stopped by its PID and every directory removed by {@link stopMembers}.
 */
// deno-lint-ignore-file no-explicit-any
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { requestJson } from "../../lib/net/client.ts";
import { SQL_TIMEOUT_MS } from "../../lib/store/sql_console.ts";
import {
  cohort,
  type DaemonProcess,
  freePort,
  lastLines,
  removeDir,
  type Run,
  startDaemonProcess,
  tempDir,
  waitForSocket,
} from "./process.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");

/** The app extensions every "good" member of a test cluster has. */
export const EXTENSIONS = ["feature_a", "feature_b"];
/** The full list a member reports: cohort's internal extension first, then the app's. */
export const FULL_EXTENSIONS = ["internal:runtime_extension_v1", ...EXTENSIONS];
/** A folder of two app migrations (schema external version 2). */
export const APP_MIGRATIONS = join(root, "tests/store/fixtures/app_migrations");

/** One member: its state directory, address and (while running) its daemon process. */
export interface Member {
  name: string;
  dir: string;
  port: number;
  address: string;
  daemon?: DaemonProcess;
}

/** An entry of `GET /core/1.0/cluster`. */
export type Entry = {
  name: string;
  address: string;
  role: string;
  status: string;
  extensions: string[];
  [key: string]: any;
};

/** Allocates a state directory and a port for member `name` (starts nothing). */
export async function newMember(name: string): Promise<Member> {
  const port = await freePort();
  return { name, dir: tempDir(`cohort-${name}-`), port, address: `127.0.0.1:${port}` };
}

/** Options of {@link startMember}. */
export interface StartOptions {
  /** App extensions (default {@link EXTENSIONS}). */
  extensions?: string[];
  /** `--app-migrations` folder. */
  appMigrations?: string;
  /** Run the daemon with this runtime instead of the test's own (`deno` from node_modules). */
  runtime?: "deno";
  /** More `cohort daemon` flags, e.g. `["--app-version", "1.0.0"]`. */
  flags?: string[];
}

/** `cohort daemon` arguments for `m`: its state dir, the `local` preset, extensions, migrations. */
export function daemonArgs(
  m: Member,
  options: { extensions?: string[]; appMigrations?: string; flags?: string[] } = {},
): string[] {
  const args = [
    "--state-dir",
    m.dir,
    "--gossip-preset",
    "local",
    "--extensions",
    (options.extensions ?? EXTENSIONS).join(","),
    ...(options.flags ?? []),
  ];
  if (options.appMigrations) args.push("--app-migrations", options.appMigrations);
  return args;
}

/** Starts (or restarts) the daemon of `m` with the `local` gossip preset; waits for its socket. */
export async function startMember(m: Member, options: StartOptions = {}): Promise<Member> {
  const args = daemonArgs(m, options);
  m.daemon = startDaemonProcess(
    args,
    options.runtime === "deno"
      ? {
        command: join(root, "node_modules/.bin/deno"),
        args: ["run", "-A", join(root, "mod.ts")],
      }
      : undefined,
  );
  await waitForSocket(m.dir, m.daemon);
  return m;
}

/**
 * Allocates and starts members in parallel. When one fails to start, every member is stopped and
 * every state directory removed before the error is thrown: the caller never gets the list.
 */
export async function startMembers(names: string[], options: StartOptions = {}): Promise<Member[]> {
  const made = await Promise.all(names.map((n) => newMember(n)));
  const started = await Promise.allSettled(made.map((m) => startMember(m, options)));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await stopMembers(made);
    throw failed.reason;
  }
  return made;
}

/** Runs `cohort <argv> --state-dir <m.dir>`. */
export function run(m: Member, argv: string[]): Promise<Run> {
  return cohort([...argv, "--state-dir", m.dir]);
}

/** A request to the daemon of `m` over its control socket (`timeoutMs` for its answer): status and envelope. */
export async function api(
  m: Member,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<{ status: number; body: any }> {
  return await requestJson({
    method,
    path,
    body,
    socketPath: join(m.dir, "control.socket"),
    timeoutMs,
  });
}

/**
 * How long a test waits for the SQL console's answer: the daemon's own limit
 * ({@link SQL_TIMEOUT_MS}, after which it cancels the run and answers 400) and 15 s more, so a
 * console that hangs still fails the test, with the daemon's answer or with no answer. Not the
 * 10 s of {@link api}: the console runs in a child process the daemon starts at a lower priority
 * (`lib/store/sql_console.ts`), which waits for the CPU while the member's own processes are busy;
 * a `SELECT 1` took 11–15 s with three CPU-bound processes beside the member at load 27 (2.3–3.2 s
 * when the child was not lowered).
 */
export const SQL_WAIT_MS = SQL_TIMEOUT_MS + 15_000;

/** `POST /core/internal/sql` on `m`'s control socket, waited for {@link SQL_WAIT_MS}. */
export function sql(m: Member, query: string): Promise<{ status: number; body: any }> {
  return api(m, "POST", "/core/internal/sql", { query }, SQL_WAIT_MS);
}

/** Issues a join token for `name` on `on` (over the socket; `expireAfterMs` 0 = never). */
export async function issueToken(on: Member, name: string, expireAfterMs = 0): Promise<string> {
  const res = await api(on, "POST", "/core/control/tokens", {
    name,
    expire_after: expireAfterMs * 1e6,
  });
  if (res.status !== 200) throw new Error(`tokens add ${name}: ${res.body?.error}`);
  return res.body.metadata;
}

/**
 * Runs `attempt` (an `init` of `m`), and again on a fresh port, twice at most, when the daemon
 * could not listen on `m`'s own: {@link freePort} gives a port that was free a moment ago, and on
 * a busy machine another process can bind it before the daemon does. A join refused so keeps its
 * token (the port is checked before the token is spent). Any other outcome is returned as it is.
 * Says on stderr when it moves `m`.
 */
async function onFreePort(m: Member, attempt: () => Promise<Run>): Promise<Run> {
  for (let tries = 1;; tries++) {
    const r = await attempt();
    const taken = r.code !== 0 && r.stderr.includes(`Listen on "${m.address}"`) &&
      r.stderr.includes("EADDRINUSE");
    if (!taken || tries === 3) return r;
    const was = m.address;
    m.port = await freePort();
    m.address = `127.0.0.1:${m.port}`;
    console.error(`[cluster helper] ${m.name}: ${was} was taken meanwhile; init at ${m.address}`);
  }
}

/** Bootstraps `m` through the CLI; throws with the CLI's output when it fails. */
export async function bootstrap(m: Member): Promise<void> {
  const r = await onFreePort(m, () => run(m, ["init", m.name, m.address, "--bootstrap"]));
  if (r.code !== 0) throw new Error(`bootstrap ${m.name}: ${r.stderr}\n${m.daemon?.logs()}`);
}

/** `cohort init NAME ADDR --token T` on `m`. */
export function join_(m: Member, token: string): Promise<Run> {
  return run(m, ["init", m.name, m.address, "--token", token]);
}

/** Joins `m` with a fresh token from `via`; throws with the CLI's output when refused. */
export async function joinVia(via: Member, m: Member): Promise<void> {
  const token = await issueToken(via, m.name);
  const r = await onFreePort(m, () => join_(m, token));
  if (r.code !== 0) throw new Error(`join ${m.name}: ${r.stderr}`);
}

/** The cluster as `m` sees it (`GET /core/1.0/cluster` over the socket). */
export async function members(m: Member): Promise<Entry[]> {
  const res = await api(m, "GET", "/core/1.0/cluster");
  if (res.status !== 200) throw new Error(`cluster list on ${m.name}: ${res.body?.error}`);
  return res.body.metadata;
}

/**
 * Polls `check` until it returns a truthy value (returned) or `timeoutMs` passes (throws with
 * `what` and the last value or error seen).
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (true) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}: ${detail}`);
    }
    await sleep(intervalMs);
  }
}

/** Waits until every member of `on` lists exactly `names`, all ONLINE. */
export function allOnline(on: Member[], names: string[], timeoutMs = 15_000): Promise<void> {
  const want = [...names].sort().join(",");
  return eventually(`${want} ONLINE on ${on.map((m) => m.name)}`, async () => {
    for (const m of on) {
      const list = await members(m);
      const got = list.map((e) => `${e.name}:${e.status}`).join(",");
      if (list.map((e) => e.name).join(",") !== want || list.some((e) => e.status !== "ONLINE")) {
        throw new Error(`${m.name} sees ${got}`);
      }
    }
    return true;
  }, timeoutMs).then(() => {});
}

/** Starts `names` in parallel, bootstraps the first, joins the rest; waits until all ONLINE. */
export async function formCluster(names: string[], options: StartOptions = {}): Promise<Member[]> {
  return await bootstrapAndJoin(await startMembers(names, options));
}

/**
 * Bootstraps the first of `list` (started, uninitialised members), joins the others with fresh
 * tokens in parallel, and waits until every member sees every other ONLINE.
 */
export async function bootstrapAndJoin(list: Member[]): Promise<Member[]> {
  const names = list.map((m) => m.name);
  try {
    await bootstrap(list[0]);
    const tokens = await Promise.all(list.slice(1).map((m) => issueToken(list[0], m.name)));
    await Promise.all(
      list.slice(1).map(async (m, i) => {
        const r = await onFreePort(m, () => join_(m, tokens[i]));
        if (r.code !== 0) throw new Error(`join ${m.name}: ${r.stderr}`);
      }),
    );
    await allOnline(list, names);
  } catch (err) {
    // The caller never gets the list to stop: daemons left running would hold the test run open.
    await stopMembers(list);
    throw err;
  }
  return list;
}

/** Whether the state directory of `m` holds no cluster state (never or no longer initialised). */
export function isClean(m: Member): boolean {
  return ["daemon.json", "cluster.crt", "cluster.key"].every((f) => !existsSync(join(m.dir, f)));
}

/** The log lines (JSON) of `m`'s daemon whose message matches `msg`. */
export function logLines(m: Member, msg: RegExp): string[] {
  return (m.daemon?.logs() ?? "").split("\n").filter((l) => {
    try {
      return msg.test(JSON.parse(l).msg);
    } catch {
      return false;
    }
  });
}

/** Reads a file of the member's state directory. */
export function stateFile(m: Member, file: string): string {
  return readFileSync(join(m.dir, file), "utf8");
}

/** Kills the daemon of `m` with SIGKILL (by PID) and waits for it to be gone. */
export async function kill(m: Member): Promise<void> {
  const d = m.daemon;
  if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return;
  process.kill(d.child.pid!, "SIGKILL");
  await d.exited;
}

/** Stops the daemon of `m` with SIGTERM (SIGKILL after 5 s), by PID. */
export async function stop(m: Member): Promise<void> {
  const d = m.daemon;
  if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return;
  process.kill(d.child.pid!, "SIGTERM");
  const timer = setTimeout(() => {
    if (d.child.exitCode === null) process.kill(d.child.pid!, "SIGKILL");
  }, 5000);
  await d.exited;
  clearTimeout(timer);
}

/** Stops every member (in parallel) and removes their state directories. */
export async function stopMembers(list: Member[]): Promise<void> {
  await Promise.all(list.map((m) => stop(m).catch(() => {})));
  for (const m of list) removeDir(m.dir);
}

/**
 * What each member last logged (`n` lines each, members not started say so), for a suite's
 * failure report; `undefined` entries (a member not made yet) are left out.
 */
export function daemonsLastLines(list: readonly (Member | undefined)[], n = 30): string {
  return list
    .filter((m): m is Member => m !== undefined)
    .map((m) => `--- ${m.name}:\n${m.daemon ? lastLines(m.daemon, n) : "(not started)"}`)
    .join("\n");
}

/** Decodes a join token. */
export function decode(
  token: string,
): { secret: string; fingerprint: string; join_addresses: string[] } {
  return JSON.parse(atob(token));
}

/** Encodes a join token. */
export function encode(token: unknown): string {
  return btoa(JSON.stringify(token));
}

/** A loopback address where nothing listens (a port that was free a moment ago). */
export async function freePortAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}
