/**
 * What the clock-step fault tests share: the preloads they run daemons under (`clock_step.c`,
 * which adds the offset written in a file to the wall clock only, and `slow_fsync.c`), compiled
 * with gcc (installed with apt-get when missing), and the daemons started with debug logs.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as assert from "uvu/assert";
import { daemonArgs, type Member, stopMembers } from "../helpers/cluster.ts";
import { removeDir, startDaemonProcess, tempDir, waitForSocket } from "../helpers/process.ts";
import { ensureCommand, underCi } from "./system.ts";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** What a clock-step case holds, for its cleanup ({@link cleanUp}). */
export interface StepCtx {
  members: Member[];
  dir?: string;
  fd?: number;
}

/** A wall clock to step: the environment a daemon runs under it with, and the step itself. */
export interface Stepper {
  /** `LD_PRELOAD` and `CLOCK_STEP_FILE` for the daemon whose wall clock steps. */
  env: Record<string, string>;
  /** Sets that daemon's wall clock to the true time plus `ms` (at once, as a step does). */
  step(ms: number): void;
  /** `preload`'s compiled library, for a daemon run under another preload. */
  compile(preload: string): string;
}

/** Compiles `tests/faults/<source>` into `dir`: its path, or why it cannot be. */
function compileShim(dir: string, source: string): { path?: string; why?: string } {
  const why = ensureCommand("gcc", "gcc");
  if (why) return { why };
  const file = fileURLToPath(new URL(`./${source}`, import.meta.url));
  const path = join(dir, source.replace(/\.c$/, ".so"));
  const r = spawnSync("gcc", ["-shared", "-fPIC", "-O2", "-o", path, file, "-ldl"], {
    encoding: "utf8",
  });
  return r.status === 0 ? { path } : { why: `gcc failed: ${r.stderr || r.error}` };
}

/**
 * Builds the clock shim into a temporary directory of `ctx`: the {@link Stepper}, or
 * `undefined` (and a visible skip; a failure under CI) when it cannot be built.
 */
export function stepper(ctx: StepCtx): Stepper | undefined {
  const dir = ctx.dir = tempDir("cohort-clock-");
  const shim = compileShim(dir, "clock_step.c");
  if (!shim.path) {
    if (underCi) assert.unreachable(`cannot build the clock shim: ${shim.why}`);
    console.log(`SKIPPED (cannot build the clock shim: ${shim.why})`);
    return undefined;
  }
  const offsetFile = join(dir, "offset");
  const fd = ctx.fd = openSync(offsetFile, "w+");
  // Rewritten in place at a fixed width: the shim maps the file and never reads past its end.
  // (A Buffer: Deno's `writeSync` of a string ignores the position and appends.)
  const step = (ms: number) =>
    void writeSync(fd, Buffer.from(String(ms).padEnd(32, " ")), 0, 32, 0);
  step(0);
  return {
    env: { LD_PRELOAD: shim.path, CLOCK_STEP_FILE: offsetFile },
    step,
    compile(preload) {
      const built = compileShim(dir, preload);
      if (!built.path) throw new Error(`cannot build ${preload}: ${built.why}`);
      return built.path;
    },
  };
}

/** Stops `ctx`'s daemons and removes what it made. */
export async function cleanUp(ctx: StepCtx): Promise<void> {
  await stopMembers(ctx.members);
  if (ctx.fd !== undefined) closeSync(ctx.fd);
  if (ctx.dir) removeDir(ctx.dir);
  ctx.fd = ctx.dir = undefined;
}

/** Starts `m`'s daemon with debug logs (suspicions and joins under way are logged at debug). */
export async function start(m: Member, env: Record<string, string> = {}): Promise<void> {
  const deno = "Deno" in globalThis;
  m.daemon = startDaemonProcess(
    daemonArgs(m),
    deno
      ? { command: join(root, "node_modules/.bin/deno"), args: ["run", "-A", join(root, "mod.ts")] }
      : undefined,
    { COHORT_LOG_LEVEL: "debug", ...env },
  );
  await waitForSocket(m.dir, m.daemon);
}

/** `m`'s log lines (JSON objects) whose message matches `msg`. */
export function logged(m: Member, msg: RegExp): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of (m.daemon?.logs() ?? "").split("\n")) {
    try {
      const line = JSON.parse(l);
      if (msg.test(line.msg)) out.push(line);
    } catch { /* not a log line */ }
  }
  return out;
}

/** Waits (polling) until `check` holds, at most `ms`; whether it did. */
export async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
