/**
 * Helpers for the kill -9 crash-consistency tests: members started with a crash point armed
 * (`crash_point.mjs`: SIGKILL on one of their own log lines), kills from outside timed on another
 * member's log line or by delay, and the checks after a restart: the store's integrity, and
 * whether a member is what it was, what it became, or clean.
 */
import { createClient } from "@libsql/client";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { eventually, isClean, type Member, members } from "./cluster.ts";
import { startWith, type UpgradeStart } from "./upgrade.ts";

/** A log line to crash on: its `msg` contains `msg`, its fields equal `fields`; the `nth` one. */
export interface CrashLine {
  msg: string;
  fields?: Record<string, unknown>;
  nth?: number;
}

/** One line to crash on, or several (the first of them to come). */
export type CrashOn = CrashLine | CrashLine[];

/** The file the crash point writes its line to, for member `m`. */
function markFile(m: Member): string {
  return `${m.dir}.crash`;
}

/**
 * Starts (or restarts) the daemon of `m` armed to SIGKILL itself on the log line `on`, and waits
 * until it started.
 */
export async function startArmed(
  m: Member,
  on: CrashOn,
  options: UpgradeStart = {},
): Promise<Member> {
  rmSync(markFile(m), { force: true });
  return await startWith(m, {
    ...options,
    env: {
      ...options.env,
      COHORT_TEST_CRASH_ON: JSON.stringify(on),
      COHORT_TEST_CRASH_MARK: markFile(m),
    },
  });
}

/**
 * Waits until the armed daemon of `m` killed itself on its line; returns the line. Throws when
 * it exits otherwise, or lives on for `timeoutMs` (the point was never reached: a changed log
 * line would show here, never as a silent pass).
 */
export async function crashed(m: Member, timeoutMs = 30_000): Promise<string> {
  const d = m.daemon!;
  // Cancelled once the race is over: a pending timer keeps the test process from exiting
  // after its last test.
  const cancel = new AbortController();
  const timer = sleep(timeoutMs, "timeout" as const, { signal: cancel.signal }).catch(() =>
    "cancelled" as const
  );
  const end = await Promise.race([d.exited.then(() => "exited" as const), timer]);
  cancel.abort();
  if (end === "timeout") {
    throw new Error(`${m.name} never reached its crash point in ${timeoutMs} ms:\n${d.logs()}`);
  }
  if (!existsSync(markFile(m)) || d.child.signalCode !== "SIGKILL") {
    throw new Error(
      `${m.name} exited (${
        d.child.signalCode ?? d.child.exitCode
      }) without reaching its crash point:\n${d.logs()}`,
    );
  }
  const line = readFileSync(markFile(m), "utf8").trim();
  rmSync(markFile(m), { force: true });
  return line;
}

/** Resolves once the current daemon of `m` logged a line whose message contains `text`. */
export async function loggedLine(m: Member, text: string, timeoutMs = 30_000): Promise<void> {
  const d = m.daemon!;
  const deadline = Date.now() + timeoutMs;
  while (!d.logs().split("\n").some((l) => l.startsWith("{") && l.includes(text))) {
    if (d.child.exitCode !== null || d.child.signalCode !== null) {
      throw new Error(`${m.name} exited before logging "${text}":\n${d.logs()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`${m.name} did not log "${text}" in ${timeoutMs} ms`);
    }
    await sleep(2);
  }
}

/** SIGKILLs the daemon of `m` now (by pid) and waits until it is gone. */
export async function killNow(m: Member): Promise<void> {
  const d = m.daemon;
  if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return;
  process.kill(d.child.pid!, "SIGKILL");
  await d.exited;
}

/** `PRAGMA integrity_check` on the store of `m` (its daemon stopped): `ok`, or what is wrong. */
export async function integrity(m: Member): Promise<string> {
  const client = createClient({ url: `file:${join(m.dir, "database", "cohort.db")}` });
  try {
    const rs = await client.execute("PRAGMA integrity_check");
    return rs.rows.map((r) => String(r[0])).join("; ");
  } finally {
    client.close();
  }
}

/**
 * What `daemon.json` says `m` is (`undefined`: uninitialised): its name and address (a joined
 * member's file also holds its view's seed until its store holds the view).
 */
export function identity(m: Member): { name: string; address: string } | undefined {
  const file = join(m.dir, "daemon.json");
  if (!existsSync(file)) return undefined;
  const { name, address } = JSON.parse(readFileSync(file, "utf8"));
  return { name, address };
}

/**
 * What the state directory of `m` holds of a member's cluster state: `clean`, `initialised`, or
 * (half-written) which files are left without `daemon.json`.
 */
export function stateOf(m: Member): string {
  if (isClean(m)) return "clean";
  if (identity(m)) return "initialised";
  const left = ["cluster.crt", "cluster.key"].filter((f) => existsSync(join(m.dir, f)));
  return `uninitialised but not clean (keeps ${left.join(", ")})`;
}

/**
 * Waits until `m` settled either as a member of the cluster (`in`: every member of `on`, `m`
 * included, lists `names` and `m`, all ONLINE) or outside it (`out`: `m` is clean and every
 * member of `on` lists exactly `names`, all ONLINE). Throws after `timeoutMs` with the views.
 */
export function settled(
  m: Member,
  on: Member[],
  names: string[],
  timeoutMs: number,
): Promise<"in" | "out"> {
  const want = (list: string[]) => [...list].sort().join(",");
  return eventually(
    `${m.name} fully in or fully out of ${want(names)}`,
    async () => {
      const views: string[] = [];
      let agreeIn = identity(m) !== undefined;
      let agreeOut = isClean(m);
      for (const x of agreeIn ? [...on, m] : on) {
        let list: Awaited<ReturnType<typeof members>>;
        try {
          list = await members(x);
        } catch (err) {
          views.push(`${x.name}: ${(err as Error).message}`);
          agreeIn = agreeOut = false;
          continue;
        }
        const got = list.map((e) => `${e.name}:${e.status}`).join(",");
        views.push(`${x.name} sees ${got || "nothing"}`);
        const online = list.every((e) => e.status === "ONLINE");
        const listed = want(list.map((e) => e.name));
        agreeIn &&= online && listed === want([...names, m.name]);
        agreeOut &&= online && listed === want(names);
      }
      if (agreeIn) return "in";
      if (agreeOut) return "out";
      throw new Error(`${m.name} is ${stateOf(m)}; ${views.join("; ")}`);
    },
    timeoutMs,
    250,
  ) as Promise<"in" | "out">;
}
