/**
 * Helpers for end-to-end tests: run the real `cohort` entry point as a child process with the
 * runtime the tests run on (`node dist/mod.js` under Node, `deno run -A mod.ts` under Deno).
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { isDeno, selfCommand } from "../../lib/runtime.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
/** The entry file for the current runtime. */
export const ENTRY = isDeno ? join(root, "mod.ts") : join(root, "dist", "mod.js");

/** The result of a finished CLI command. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cohort <args>` to completion. */
export function cohort(args: string[], input?: string): Promise<Run> {
  const { command, args: prefix } = selfCommand(ENTRY);
  return new Promise((done, fail) => {
    const child = spawn(command, [...prefix, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
    child.stdin!.end(input ?? "");
  });
}

/** A daemon child process and its collected stderr (JSON log lines). */
export interface DaemonProcess {
  child: ChildProcess;
  logs(): string;
  exited: Promise<number>;
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
  const child = spawn(command, [...prefix, "daemon", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NO_COLOR: "1", COHORT_LOG_LEVEL: "info", ...env },
  });
  let logs = "";
  child.stderr!.on("data", (d) => (logs += d));
  const exited = new Promise<number>((done) => child.on("close", (code) => done(code ?? -1)));
  return { child, logs: () => logs, exited };
}

/** A fresh temporary directory; remove it with {@link removeDir}. */
export function tempDir(prefix = "cohort-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Removes a directory tree, ignoring errors. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/**
 * Waits until the daemon of `stateDir` answers on its control socket (started, maybe not
 * initialised). Throws with the daemon's logs when it exits or does not answer in time.
 */
export async function waitForSocket(
  stateDir: string,
  daemon?: DaemonProcess,
  timeoutMs = 20_000,
): Promise<void> {
  const { requestJson } = await import("../../lib/net/client.ts");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (daemon && daemon.child.exitCode !== null) {
      throw new Error(`daemon exited with ${daemon.child.exitCode}:\n${daemon.logs()}`);
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
