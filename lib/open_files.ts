/**
 * This process's limit of open file descriptors (the soft `RLIMIT_NOFILE`), for the message of
 * a member that reached it: neither Node nor Deno expose `getrlimit`, and the limit can change
 * while the member runs (`prlimit --pid`), so it is read from `/proc/self/limits` (Linux) when
 * asked. That file is kept open from {@link watchOpenFileLimit} on: at the limit it could not be
 * opened any more, which is exactly when its answer is wanted.
 *
 * @module
 */
import { openSync, readSync } from "node:fs";
import { describeDescriptorLimit, descriptorFault, DescriptorLimitError } from "./errors.ts";

/** The open `/proc/self/limits`, `null` where there is none (not Linux), `undefined` not yet. */
let limits: number | null | undefined;

/**
 * Opens `/proc/self/limits` once, so that {@link openFileLimit} can read it at the limit. Cheap
 * to call again; a failed open (out of descriptors already) is tried again at the next call.
 */
export function watchOpenFileLimit(): void {
  if (limits !== undefined) return;
  try {
    limits = openSync("/proc/self/limits", "r");
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") limits = null;
  }
}

/** The process's current soft limit of open files, or `undefined` where it cannot be read. */
export function openFileLimit(): number | undefined {
  watchOpenFileLimit();
  if (typeof limits !== "number") return undefined;
  try {
    const buf = new Uint8Array(4096);
    // From offset 0 each time: the kernel renders the file again for each read from there.
    const n = readSync(limits, buf, 0, buf.length, 0);
    const text = new TextDecoder().decode(buf.subarray(0, n));
    const soft = /^Max open files\s+(\d+)\s/m.exec(text)?.[1];
    return soft === undefined ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/**
 * What a daemon's start that ran out of file descriptors throws, whatever step met it (a listen,
 * a file, the loading of the daemon's own modules): a {@link DescriptorLimitError} naming the
 * limit and how to raise it; `undefined` when `err` is not about descriptors or says so already.
 */
export function startDescriptorError(err: unknown): DescriptorLimitError | undefined {
  const descriptors = descriptorFault(err);
  if (descriptors === undefined || descriptors === "E_FD_LIMIT") return undefined;
  const limit = descriptors === "ENFILE" ? undefined : openFileLimit();
  return new DescriptorLimitError(
    `Cannot start daemon: ${describeDescriptorLimit(descriptors, "the daemon", limit)}, ` +
      "and start again",
    { cause: err },
  );
}
