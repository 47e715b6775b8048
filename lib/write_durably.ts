/**
 * The one durable replacement of a file in a member's state directory ({@link writeDurablyAsync})
 * and the directory sync it ends with ({@link syncDirAsync}), for every module that writes one
 * (the transition mark, token claims, key pairs, extension servers), through the `files()` seam
 * (`files.ts`), so a simulation's synchronous file operations cover them too. Only the
 * asynchronous form exists: a member never holds its event loop for a disk's sync.
 *
 * @module
 */
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { files } from "./files.ts";
import { tempName } from "./temp_name.ts";

/**
 * Replaces file `target` in directory `dir` with `text` atomically and durably, off the event
 * loop: temporary file ({@link tempName}), fsync, rename, fsync of the directory, each on the
 * thread pool. Without the first fsync a rename can reach the disk before the data it names, and
 * an operating-system crash leaves `target` empty. A failed write removes its temporary file and
 * leaves `target` as it was. Concurrent calls for one `target` must be serialised by the caller:
 * each lands whole, but the last rename wins, whichever call began first.
 *
 * `mode`: the file's mode (0o600 by default); one given is set exactly, whatever the umask.
 */
export async function writeDurablyAsync(
  dir: string,
  target: string,
  text: string,
  mode?: number,
): Promise<void> {
  const tmp = tempName(target);
  try {
    await files().writeFile(tmp, text, { mode: mode ?? 0o600 });
    // The umask may have narrowed it (a certificate others read). Only when asked: each step off
    // the loop waits for a turn of it, and the default's 0o600 a umask cannot widen.
    if (mode !== undefined) await files().chmod(tmp, mode);
    await files().sync(tmp);
    await files().rename(tmp, target);
  } catch (err) {
    await files().rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await syncDirAsync(dir);
}

/**
 * Flushes a directory's entries (a rename or unlink in it) to disk, off the event loop; best
 * effort (not supported on every platform: the rename itself is still atomic).
 */
export async function syncDirAsync(dir: string): Promise<void> {
  try {
    await files().sync(dir);
  } catch { /* see above */ }
}

/**
 * Makes directory `dir` (mode 0o700) and what is missing above it, then syncs the parent of each
 * directory it made, so that an operating-system crash cannot take a new directory, and the
 * files later written durably in it, with it. Nothing is synced when `dir` was there already.
 */
export async function makeDirDurably(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  for (let made = dir;; made = dirname(made)) {
    await syncDirAsync(dirname(made));
    if (made === first || dirname(made) === made) return;
  }
}
