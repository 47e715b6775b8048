/**
 * The file operations a member does in its state directory (reading and writing certificates
 * and keys, the files a join receives, removing them at a wipe, recreating the database), behind
 * one seam with two implementations: {@link asyncFiles} (`node:fs/promises`, the default) and
 * {@link syncFiles} (the same operations done at once, their promises already settled).
 *
 * A whole-member simulation installs {@link syncFiles} ({@link useFiles}) so that two members'
 * file operations can never complete in a different order from one run to the next: with
 * `node:fs/promises` each operation finishes on a thread of its own, whenever that thread is
 * done, and under Deno nothing can make them synchronous from outside (its built-in modules
 * cannot be patched). Daemons keep {@link asyncFiles}: a slow disk never blocks their event loop.
 *
 * @module
 */
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { chmod, mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";

/** Options of {@link Files.writeFile}. */
export interface WriteOptions {
  /** Mode of a file created (before the umask). @default 0o666 */
  mode?: number;
  /** `"w"` (create or replace) or `"wx"` (create; fail with EEXIST when it exists). @default "w" */
  flag?: "w" | "wx";
}

/**
 * The file operations of a member; each rejects with the `node:fs` error (its `code`: ENOENT,
 * EEXIST, …) where `node:fs/promises` does.
 */
export interface Files {
  /** The text of a UTF-8 file. */
  readFile(path: string): Promise<string>;
  /** Writes `data` (UTF-8) to `path`. */
  writeFile(path: string, data: string, options?: WriteOptions): Promise<void>;
  /** Removes a file (`force`: a missing one is no error; `recursive`: a directory too). */
  rm(path: string, options?: { force?: boolean; recursive?: boolean }): Promise<void>;
  /** Creates a directory (`recursive`: its parents too, and an existing one is no error). */
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void>;
  /** Renames `from` to `to`, replacing `to` (atomically, on one file system). */
  rename(from: string, to: string): Promise<void>;
  /** Changes a file's mode. */
  chmod(path: string, mode: number): Promise<void>;
  /** Flushes a file, or a directory's entries (a rename or unlink in it), to disk: `fsync`. */
  sync(path: string): Promise<void>;
}

/** `node:fs/promises`: the default. */
export const asyncFiles: Files = Object.freeze({
  readFile: (path: string) => readFile(path, "utf8"),
  writeFile: (path: string, data: string, options?: WriteOptions) => writeFile(path, data, options),
  rm: (path: string, options?: { force?: boolean; recursive?: boolean }) => rm(path, options),
  mkdir: async (path: string, options?: { recursive?: boolean; mode?: number }) => {
    await mkdir(path, options);
  },
  rename: (from: string, to: string) => rename(from, to),
  chmod: (path: string, mode: number) => chmod(path, mode),
  sync: async (path: string) => {
    const handle = await open(path, "r");
    try {
      await handle.sync();
    } finally {
      // Not awaited: once synced, nothing waits for the close, and under load each step off
      // the loop waits for a turn of it (a join's answer waits for two syncs, issue 15).
      handle.close().catch(() => {});
    }
  },
});

/** Runs `f` now; its result or error as a settled promise. */
function now<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (err) {
    return Promise.reject(err);
  }
}

/** The same operations done synchronously (see the module docs). */
export const syncFiles: Files = Object.freeze({
  readFile: (path: string) => now(() => readFileSync(path, "utf8")),
  writeFile: (path: string, data: string, options?: WriteOptions) =>
    now(() => writeFileSync(path, data, options)),
  rm: (path: string, options?: { force?: boolean; recursive?: boolean }) =>
    now(() => rmSync(path, options)),
  mkdir: (path: string, options?: { recursive?: boolean; mode?: number }) =>
    now(() => void mkdirSync(path, options)),
  rename: (from: string, to: string) => now(() => renameSync(from, to)),
  chmod: (path: string, mode: number) => now(() => chmodSync(path, mode)),
  sync: (path: string) =>
    now(() => {
      const fd = openSync(path, "r");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }),
});

let current: Files = asyncFiles;

/** The file operations members of this process use ({@link asyncFiles} unless changed). */
export function files(): Files {
  return current;
}

/**
 * Makes every member of this process use `impl` from now on (a simulation's choice, for the
 * whole process); returns the implementation used until now.
 */
export function useFiles(impl: Files): Files {
  const previous = current;
  current = impl;
  return previous;
}
