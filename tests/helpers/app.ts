/**
 * Helpers for end-to-end tests that play an app developer: members run
 * `tests/e2e/fixtures/hook_app.ts` (cohort's command line with hooks that log one line each and
 * an app endpoint) as real processes, driven through the real CLI like any other member.
 */
// deno-lint-ignore-file no-explicit-any
import { resolve } from "node:path";
import process from "node:process";
import { moduleCommand } from "../../lib/runtime.ts";
import { daemonArgs, type Member, type StartOptions } from "./cluster.ts";
import { type DaemonProcess, startDaemonProcess, waitForSocket } from "./process.ts";
import { logLines } from "./upgrade.ts";

const APP = resolve(import.meta.dirname ?? ".", "../e2e/fixtures/hook_app.ts");

/** Spawns the app daemon of `m` (no wait). */
export function spawnApp(m: Member, options: StartOptions = {}): DaemonProcess {
  m.daemon = startDaemonProcess(daemonArgs(m, options), moduleCommand(APP));
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
 * line. Lines are parsed whole, however the output is chunked.
 */
export function killOnLine(
  daemon: DaemonProcess,
  match: (line: Record<string, any>) => boolean,
): Promise<Record<string, any>> {
  return new Promise((done) => {
    let partial = "";
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
        daemon.child.stderr!.off("data", onData);
        if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
          process.kill(daemon.child.pid!, "SIGKILL");
        }
        done(line);
        return;
      }
    };
    daemon.child.stderr!.on("data", onData);
  });
}
