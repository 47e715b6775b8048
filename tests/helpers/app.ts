/**
 * Helpers for end-to-end tests that play an app developer: members run
 * `tests/e2e/fixtures/hook_app.ts` (cohort's command line with hooks that log one line each and
 * an app endpoint) as real processes, driven through the real CLI like any other member.
 */
// deno-lint-ignore-file no-explicit-any
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { isDeno } from "../../lib/runtime.ts";
import { daemonArgs, type Member, type StartOptions } from "./cluster.ts";
import { type DaemonProcess, startDaemonProcess, waitForSocket } from "./process.ts";
import { logLines } from "./upgrade.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "../..");
const APP = join(ROOT, "tests/e2e/fixtures/hook_app.ts");

/**
 * The command that runs the app `file` (a TypeScript entry point importing cohort's sources) the
 * way a built app runs: `deno run -A file` under Deno; under Node, `node` with the file compiled
 * to JavaScript (`.tmp/test-apps/`, made once per content), whose imports of cohort's sources load
 * the built package in `dist/` instead, as every other daemon of the Node tests does. Through the
 * tests' TypeScript loader, an app's start cost 1.6 s of CPU and its certificate process 0.7 s
 * (the library's sources compiled on the fly), against 0.55 and 0.23 s from `dist/`.
 */
export function appCommand(file: string): { command: string; args: string[] } {
  if (isDeno) return { command: process.execPath, args: ["run", "-A", file] };
  const source = readFileSync(file, "utf8");
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const out = join(ROOT, ".tmp/test-apps", `${basename(file, ".ts")}-${hash}.mjs`);
  if (!existsSync(out)) {
    // esbuild (the build's bundler) removes the types; the imports stay as they are but for
    // cohort's own modules, which point to their build.
    const esbuild = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");
    const { code } = esbuild.transformSync(source, { loader: "ts", format: "esm" });
    const js = code.replace(/(["'])(\.\.?\/[^"']+)\.ts\1/g, (_, quote, path) => {
      const built = join(ROOT, "dist", relative(ROOT, resolve(dirname(file), path)) + ".js");
      return quote + pathToFileURL(built).href + quote;
    });
    mkdirSync(dirname(out), { recursive: true });
    // Test files running at once may compile the same app: each writes a file of its own and
    // renames it into place.
    const scratch = `${out}.${process.pid}`;
    writeFileSync(scratch, js);
    renameSync(scratch, out);
  }
  return { command: process.execPath, args: [out] };
}

/** Spawns the app daemon of `m` (no wait). */
export function spawnApp(m: Member, options: StartOptions = {}): DaemonProcess {
  m.daemon = startDaemonProcess(daemonArgs(m, options), appCommand(APP));
  return m.daemon;
}

/** Starts (or restarts) the app daemon of `m`; waits for its control socket. */
export async function startApp(m: Member, options: StartOptions = {}): Promise<Member> {
  spawnApp(m, options);
  await waitForSocket(m.dir, m.daemon);
  return m;
}

/** The hook lines the current process of `m` wrote, in order (`name` filters by hook). */
export function hookLines(m: Member, name?: string): Record<string, any>[] {
  return logLines(m).filter((l) => l.msg === "hook" && (name === undefined || l.hook === name));
}

/** Kills the app process of `m` with SIGKILL (by PID) at once, without waiting. */
export function killNow(m: Member): void {
  const d = m.daemon;
  if (d && d.child.exitCode === null && d.child.signalCode === null) {
    process.kill(d.child.pid!, "SIGKILL");
  }
}

/**
 * Kills `daemon` with SIGKILL from inside its stderr listener the moment it writes a JSON log
 * line for which `match` is true, so the kill lands right after that step; resolves with the
 * line. Lines are parsed whole, however the output is chunked. Rejects, with the daemon's last
 * log lines, when it exits without writing such a line or has not written it within
 * `timeoutMs` (default 120 s): the daemon's process is unreferenced, so a promise nothing can
 * settle would otherwise end the test run early with no reason given.
 */
export function killOnLine(
  daemon: DaemonProcess,
  match: (line: Record<string, any>) => boolean,
  timeoutMs = 120_000,
): Promise<Record<string, any>> {
  const killed = new Promise<Record<string, any>>((done, fail) => {
    let partial = "";
    const stop = () => {
      clearTimeout(timer);
      daemon.child.stderr!.off("data", onData);
      daemon.child.off("close", onClose);
    };
    const giveUp = (why: string) => {
      stop();
      const tail = daemon.logs().trim().split("\n").slice(-15).join("\n");
      fail(new Error(`${why} before the awaited log line; its last lines:\n${tail}`));
    };
    const onData = (chunk: Buffer | string) => {
      partial += chunk.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const text of lines) {
        let line: Record<string, any>;
        try {
          line = JSON.parse(text);
        } catch {
          continue;
        }
        if (!match(line)) continue;
        stop();
        if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
          process.kill(daemon.child.pid!, "SIGKILL");
        }
        done(line);
        return;
      }
    };
    // "close" comes after the process exited and its streams delivered their last bytes.
    const onClose = (code: number | null, signal: string | null) =>
      giveUp(`the daemon exited (code ${code}, signal ${signal})`);
    const timer = setTimeout(() => giveUp(`no such line in ${timeoutMs} ms`), timeoutMs);
    daemon.child.stderr!.on("data", onData);
    daemon.child.on("close", onClose);
  });
  // Awaited later by the test (after the step that triggers the line): not an unhandled rejection.
  killed.catch(() => {});
  return killed;
}
