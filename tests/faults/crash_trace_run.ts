/**
 * A member's daemon run under `strace`, as the crash-order check records it: every file
 * operation, sync and socket write of the daemon and of the processes it starts (its certificate
 * process), with the paths and socket ends their descriptors stand for (`-yy`), the bytes written
 * (`-x -s 1048576`: whole, non-printable bytes as `\xNN`) and wall-clock times (`-ttt`).
 *
 * `strace -D` runs the tracer as a detached grandchild: the daemon itself is the test's child, so
 * its leash (`tests/helpers/leash.mjs`) still sees its parent die, the test's signals reach it
 * (strace does not pass a SIGTERM on to the program it started), and the trace is complete once
 * the daemon's exit is written in it.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { daemonArgs, type Member } from "../helpers/cluster.ts";
import { leashed, startDaemonProcess, waitForSocket } from "../helpers/process.ts";

/**
 * The system calls recorded: those that change files or their names, and socket reads and writes
 * (a control socket's requests and answers).
 */
export const TRACED = [
  "openat",
  "write",
  "pwrite64",
  "writev",
  "pwritev",
  "fsync",
  "fdatasync",
  "rename",
  "renameat",
  "renameat2",
  "unlink",
  "unlinkat",
  "link",
  "linkat",
  "mkdir",
  "mkdirat",
  "rmdir",
  "ftruncate",
  "truncate",
  "sendto",
  "sendmsg",
  "read",
  "readv",
  "recvfrom",
  "recvmsg",
];

/** A member whose daemon runs under strace, writing its trace to {@link TracedMember.trace}. */
export interface TracedMember extends Member {
  /** The trace file (outside the state directory). */
  trace: string;
}

/**
 * Starts `m`'s daemon (`command args daemon …`, e.g. an app's entry) under strace, writing
 * the trace to `trace`; waits for its control socket.
 */
export async function startTraced(
  m: Member,
  trace: string,
  entry: { command: string; args: string[] },
): Promise<TracedMember> {
  const strace = [
    "-D",
    "-f",
    "-yy",
    "-ttt",
    "-x",
    "-s",
    "1048576",
    "-e",
    `trace=${TRACED.join(",")}`,
    "-o",
    trace,
    "--",
    entry.command,
    ...leashed(entry.command, entry.args),
  ];
  // libuv may run file operations through io_uring, which strace cannot see.
  m.daemon = startDaemonProcess(daemonArgs(m, { extensions: [] }), {
    command: "strace",
    args: strace,
  }, { UV_USE_IO_URING: "0" });
  await waitForSocket(m.dir, m.daemon);
  return Object.assign(m, { trace });
}

/**
 * Waits until `m`'s trace holds its daemon's end (strace writes the exit of the process it
 * started last), at most `ms`.
 */
export async function traceComplete(m: TracedMember, ms = 60_000): Promise<string> {
  const pid = m.daemon!.child.pid!;
  const end = new RegExp(`^${pid}\\s+[\\d.]+ \\+\\+\\+ (exited with|killed by)`, "m");
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(100)) {
    if (!existsSync(m.trace)) continue;
    const text = readFileSync(m.trace, "latin1");
    if (end.test(text)) return text;
  }
  throw new Error(`${m.name}'s trace ${m.trace} has no end after ${ms} ms`);
}

/** The control socket's path of `m` (answers written to it are a CLI's or an API client's). */
export const controlSocket = (m: Member): string => join(m.dir, "control.socket");
