/**
 * Helpers for rolling-upgrade end-to-end tests: member daemons started with extra daemon flags
 * (`--upgrade-policy`, `--upgrade-dead-grace`) and extra environment (`COHORT_CLUSTER_UPDATE`),
 * restarted with new extension lists or app migration folders, and the log lines the upgrade
 * gate writes. Builds on tests/helpers/cluster.ts (members, API, stop) without changing it.
 */
// deno-lint-ignore-file no-explicit-any
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  api,
  bootstrapAndJoin,
  daemonArgs,
  eventually,
  type Member,
  newMember,
} from "./cluster.ts";
import { startDaemonProcess, waitForSocket } from "./process.ts";

/** How a member's daemon is started. */
export interface UpgradeStart {
  /** App extensions (default: the cluster helpers' `EXTENSIONS`). */
  extensions?: string[];
  /** `--app-migrations` folder. */
  appMigrations?: string;
  /** Extra `cohort daemon` flags. */
  flags?: string[];
  /** Extra environment of the daemon process. */
  env?: Record<string, string>;
}

/** Spawns the daemon of `m` with the extra flags and environment (no wait). */
export function spawnMember(m: Member, options: UpgradeStart = {}): void {
  m.daemon = startDaemonProcess(daemonArgs(m, options), undefined, options.env);
}

/**
 * Starts (or restarts) the daemon of `m` and waits until it has finished starting: its control
 * socket answers and it logged "Daemon started" (an initialised member has then made its gating
 * decision, so `ready` says whether it waits rather than that it is still starting).
 */
export async function startWith(m: Member, options: UpgradeStart = {}): Promise<Member> {
  spawnMember(m, options);
  await waitForSocket(m.dir, m.daemon);
  // Until it logged that it started or it ended: `eventually` takes a throw for "not yet", so
  // an end must stop the wait as a value, or the wait runs to its limit. A signal (a crash
  // point's SIGKILL) leaves no exit code: see it too.
  const ended = () => {
    const { exitCode, signalCode } = m.daemon!.child;
    return exitCode !== null || signalCode !== null;
  };
  const started = () => logged(m, "Daemon started").length > 0;
  await eventually(`${m.name} started`, () => Promise.resolve(started() || ended()), 60_000, 20);
  if (!started()) {
    const { exitCode, signalCode } = m.daemon!.child;
    throw new Error(`${m.name} exited with ${exitCode ?? signalCode}:\n${m.daemon!.logs()}`);
  }
  return m;
}

/**
 * Forms a cluster of `names` (bootstrap the first, join the rest), every member started with
 * `options` (or `perMember(name)`), and waits until every member sees every other ONLINE.
 */
export async function formWith(
  names: string[],
  options: UpgradeStart | ((name: string) => UpgradeStart) = {},
): Promise<Member[]> {
  const of = typeof options === "function" ? options : () => options;
  const list = await Promise.all(
    names.map(async (n) => startWith(await newMember(n), of(n))),
  );
  return await bootstrapAndJoin(list);
}

/** The JSON log lines of the current daemon process of `m`, parsed. */
export function logLines(m: Member): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  for (const line of (m.daemon?.logs() ?? "").split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line));
    } catch { /* a partial line still being written */ }
  }
  return out;
}

/** Log lines of `m` whose message contains `text`. */
export function logged(m: Member, text: string): Record<string, any>[] {
  return logLines(m).filter((l) => String(l.msg ?? "").includes(text));
}

/** `GET /core/1.0` on `m`: whether the member says it is ready. */
export async function isReady(m: Member): Promise<boolean> {
  const res = await api(m, "GET", "/core/1.0");
  return res.body?.metadata?.ready === true;
}

/** Statuses of `m`'s cluster view, `name:STATUS` sorted by name. */
export async function statuses(m: Member): Promise<string> {
  const res = await api(m, "GET", "/core/1.0/cluster");
  if (res.status !== 200) throw new Error(`cluster on ${m.name}: ${res.body?.error}`);
  return res.body.metadata.map((e: any) => `${e.name}:${e.status}`).join(",");
}

/**
 * Writes an executable update command into `dir` that appends `$COHORT_UPDATE_TARGET` to
 * `out`; returns its path.
 */
export function updateScript(dir: string, out: string): string {
  const path = join(dir, "update.sh");
  writeFileSync(path, `#!/bin/sh\necho "$COHORT_UPDATE_TARGET" >> "${out}"\n`);
  chmodSync(path, 0o755);
  return path;
}
