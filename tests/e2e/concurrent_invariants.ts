/**
 * What must hold after operators ran commands at the same moment on a cluster of real daemons
 * (the `concurrent_*` tests): every command's outcome says what happened, every member's list
 * agrees, a removed member is uninitialised and stays out, no daemon crashed or logged an
 * internal error, no temporary file is left, and a member restarts cleanly from what it stored.
 * Every check waits for its condition (a busy machine delays gossip by seconds); none times
 * anything.
 */
import { readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import * as assert from "uvu/assert";
import { tempWriter } from "../../lib/temp_name.ts";
import {
  allOnline,
  api,
  eventually,
  isClean,
  type Member,
  members,
  startMember,
  stop,
} from "../helpers/cluster.ts";
import type { Run } from "../helpers/process.ts";

/** A CLI command's outcome, with what it was (for the failure message). */
export interface Outcome extends Run {
  what: string;
}

/** Runs `command`, keeping `what` with its outcome. */
export async function labelled(what: string, command: Promise<Run>): Promise<Outcome> {
  return { what, ...(await command) };
}

/**
 * Asserts that `r` ended the way an operator can act on: 0; 1 with a one-paragraph message that
 * is not an internal error, a stack or a runtime's own text; or 2 (a usage error). `accepted`
 * lists the messages a failure may give in this scene (substrings); a failure saying anything
 * else is taken for an unexplained one.
 */
export function clearOutcome(r: Outcome, accepted: (string | RegExp)[] = []): void {
  const where = `${r.what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  // Who won a race is the scene's outcome: printed, so a run shows which paths it took.
  console.log(`  ${r.what}: exit ${r.code}${r.code ? `: ${r.stderr.trim().split("\n")[0]}` : ""}`);
  assert.ok([0, 1, 2].includes(r.code), `an exit code of 0, 1 or 2: ${where}`);
  if (r.code === 0) return;
  const text = r.stderr.trim();
  assert.ok(text.length > 0, `a failure says why: ${where}`);
  for (
    const bad of [/internal server error/i, /\n\s+at /, /TypeError|ReferenceError/, /\[object /]
  ) {
    assert.not.match(text, bad, `no internal detail: ${where}`);
  }
  if (accepted.length === 0) return;
  const known = accepted.some((a) => typeof a === "string" ? text.includes(a) : a.test(text));
  assert.ok(known, `a failure this scene explains (${accepted.join(" | ")}): ${where}`);
}

/** The members `m` lists, sorted by name, with their statuses (`name:STATUS`). */
export async function listOf(m: Member): Promise<string> {
  return (await members(m)).map((e) => `${e.name}:${e.status}`).sort().join(",");
}

/**
 * Waits until every member of `on` lists exactly `names`, all ONLINE (`allOnline`), with the
 * time a busy machine needs.
 */
export function agree(on: Member[], names: string[]): Promise<void> {
  return allOnline(on, names, 30_000);
}

/**
 * Waits until `m` was reset by its removal: its state directory clean and its daemon answering
 * that it is not initialised (it serves no cluster API).
 */
export async function removedAndReset(m: Member): Promise<void> {
  await eventually(`${m.name} to be uninitialised`, async () => {
    if (!isClean(m)) return false;
    const res = await api(m, "GET", "/core/1.0/cluster");
    return res.status !== 200 && /not yet initialized/i.test(String(res.body?.error));
  }, 30_000);
}

/**
 * Watches `on` for `ms` (a window of gossip rounds, not a bound on anything): a member listed
 * beyond `names` (a removed member come back) fails at once.
 */
export async function staysOut(on: Member[], names: string[], ms = 3000): Promise<void> {
  const want = new Set(names);
  const until = Date.now() + ms;
  while (Date.now() < until) {
    for (const m of on) {
      const extra = (await members(m)).map((e) => e.name).filter((n) => !want.has(n));
      assert.equal(extra, [], `${m.name} lists no member beyond ${names}`);
    }
    await sleep(250);
  }
}

/** Log lines of `m` at level error (50) or above, or that report an internal error. */
export function errorLines(m: Member): string[] {
  return (m.daemon?.logs() ?? "").split("\n").filter((line) => {
    if (!line.trim()) return false;
    try {
      const l = JSON.parse(line);
      return l.level >= 50 || /internal error|unhandled/i.test(String(l.msg));
    } catch {
      // Anything a daemon prints beside its JSON lines is a runtime's own report (a crash).
      return true;
    }
  });
}

/** Asserts that every daemon of `list` still runs and logged no error. */
export function healthy(list: Member[]): void {
  for (const m of list) {
    const d = m.daemon;
    assert.ok(d, `${m.name} was started`);
    assert.is(d!.child.exitCode, null, `${m.name}'s daemon still runs`);
    assert.is(d!.child.signalCode, null, `${m.name}'s daemon still runs`);
    assert.equal(errorLines(m), [], `${m.name} logged no error`);
  }
}

/** Temporary files of atomic writes left in `m`'s state directory. */
export function temporaries(m: Member): string[] {
  return readdirSync(m.dir).filter((f) => tempWriter(f) !== undefined);
}

/**
 * Stops `m` (SIGTERM: exit 0 expected), starts it again from its state directory and waits
 * until it lists `names` ONLINE with the others of `on`: nothing it stored was half-written.
 */
export async function restartsCleanly(m: Member, on: Member[], names: string[]): Promise<void> {
  const d = m.daemon!;
  await stop(m);
  assert.is(await d.exited, 0, `${m.name} stopped cleanly:\n${d.logs().slice(-3000)}`);
  assert.equal(temporaries(m), [], `${m.name} left no temporary file`);
  await startMember(m);
  await agree(on, names);
  healthy([m]);
}

/**
 * Resolves once `m`'s daemon logged a line matching `line` (looked for every 5 ms): the moment a
 * second operation is started to land inside the first one (a join under way).
 */
export async function logged(m: Member, line: RegExp, timeoutMs = 30_000): Promise<void> {
  await eventually(
    `${m.name} to log ${line}`,
    () => Promise.resolve(line.test(m.daemon!.logs())),
    timeoutMs,
    5,
  );
}

/**
 * Waits until no member of `on` holds a `left` or `dead` entry in its gossip table (their reap,
 * every 15 s, forgot removed and stopped incarnations). A name joined again before that could
 * stay UNREACHABLE on a member that still held its removed incarnation's `left` entry, for
 * minutes (a gossip-layer defect, reported; `concurrent_rejoin.test.ts` on the branch
 * `concurrent` reproduces it): the tests that join a removed name again wait for this first,
 * so that they test what they name.
 */
export async function forgotten(on: Member[]): Promise<void> {
  await eventually(`no left or dead gossip entry on ${on.map((m) => m.name)}`, async () => {
    for (const m of on) {
      const text = String((await api(m, "GET", "/core/1.0/metrics")).body);
      const down = text.split("\n").filter((l) =>
        /^cohort_gossip_members\{state="(left|dead)"\} [1-9]/.test(l)
      );
      if (down.length) throw new Error(`${m.name}: ${down.join(", ")}`);
    }
    return true;
  }, 60_000);
}
