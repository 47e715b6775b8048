/**
 * Process groups for the test runner. Every test file runs as the leader of a process group of
 * its own; the daemons, CLI commands and certificate processes it starts inherit that group, so
 * the runner can find and kill them with it: when the file times out, when it ended and left
 * some running, when the runner is interrupted (SIGINT, SIGTERM, SIGHUP) or crashes, and, through
 * the sentinel (`sentinel.mjs`), when the runner itself is killed with SIGKILL.
 *
 * Linux: group members are read from `/proc`. Elsewhere a group is only known to be empty or not.
 *
 * @module
 */
import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";

/** A process of a group: its pid and command line. */
export interface GroupMember {
  pid: number;
  command: string;
}

/** The processes whose process group is `pgid` (from `/proc`; one placeholder elsewhere). */
export function groupMembers(pgid: number): GroupMember[] {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((n) => /^\d+$/.test(n));
  } catch {
    try {
      process.kill(-pgid, 0);
      return [{ pid: -pgid, command: "(some process of the group)" }];
    } catch {
      return [];
    }
  }
  const out: GroupMember[] = [];
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the command name (which may hold spaces and parentheses): state ppid pgrp.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid || fields[0] === "Z") continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      out.push({ pid: Number(pid), command });
    } catch { /* exited while we looked */ }
  }
  return out;
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch { /* already gone */ }
}

/** Starts process groups and makes sure none outlives the runner; see the module docs. */
export class ProcessGroups {
  readonly #live = new Set<number>();
  readonly #sentinel: ChildProcess;

  /**
   * @param tmpRoot the run's temporary directory, removed by the sentinel should the runner die
   *   without removing it
   */
  constructor(tmpRoot: string) {
    const sentinel = fileURLToPath(new URL("./sentinel.mjs", import.meta.url));
    this.#sentinel = spawn(process.execPath, [sentinel, tmpRoot], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
    });
    this.#sentinel.on("error", () => {}); // without it the runner still works, less guarded
    this.#sentinel.stdin!.on("error", () => {});
    this.#sentinel.unref();
    (this.#sentinel.stdin as unknown as { unref?(): void }).unref?.();
  }

  /** Spawns `command` as the leader of a new process group, tracked until {@link sweep}. */
  spawn(command: string, args: string[], options: SpawnOptions): ChildProcess {
    const child = spawn(command, args, { ...options, detached: true });
    if (child.pid) {
      this.#live.add(child.pid);
      this.#sentinel.stdin!.write(`+${child.pid}\n`);
    }
    return child;
  }

  /** Sends SIGKILL to every process of the group (no wait). */
  kill(pgid: number): void {
    killGroup(pgid);
  }

  /**
   * Once the leader has exited: waits up to `graceMs` for the rest of the group to exit (a
   * certificate process finishing its start after its parent died), then kills what is left.
   *
   * @returns the processes that were still running after `graceMs` (killed now)
   */
  async sweep(pgid: number, graceMs: number): Promise<GroupMember[]> {
    const deadline = Date.now() + graceMs;
    let left = groupMembers(pgid);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      left = groupMembers(pgid);
    }
    if (left.length > 0) {
      killGroup(pgid);
      for (let i = 0; i < 50 && groupMembers(pgid).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    this.#live.delete(pgid);
    this.#sentinel.stdin!.write(`-${pgid}\n`);
    return left;
  }

  /** Kills every group not yet swept, at once (for the runner's exit paths). */
  killAll(): void {
    for (const pgid of this.#live) killGroup(pgid);
  }

  /** Lets the sentinel go (every group was swept). */
  close(): void {
    this.#sentinel.stdin!.end();
  }
}
