/**
 * The member's state directory: its layout, the lock that keeps a second daemon out, and the
 * small `daemon.json` that records who this member is once initialised.
 *
 * Layout (modes as MicroCluster's): `DIR` 0711; `DIR/control.socket` 0660; `DIR/database/` 0700
 * holding `cohort.db`; `DIR/server.crt|key` (this member's identity); `DIR/cluster.crt|key`
 * (shared by every member); `DIR/daemon.json`; `DIR/daemon.pid` (the lock).
 *
 * @module
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { InvalidInputError, LockedError } from "../errors.ts";

/** Paths inside a state directory. */
export interface StatePaths {
  dir: string;
  socket: string;
  databaseDir: string;
  database: string;
  config: string;
  lock: string;
}

/** Computes the paths of a state directory (creates nothing). */
export function statePaths(dir: string): StatePaths {
  return {
    dir,
    socket: join(dir, "control.socket"),
    databaseDir: join(dir, "database"),
    database: join(dir, "database", "cohort.db"),
    config: join(dir, "daemon.json"),
    lock: join(dir, "daemon.pid"),
  };
}

/** Creates the state directory and its database folder with their modes. */
export function ensureStateDir(paths: StatePaths): void {
  mkdirSync(paths.dir, { recursive: true, mode: 0o711 });
  mkdirSync(paths.databaseDir, { recursive: true, mode: 0o700 });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means the process exists but belongs to someone else: still alive.
    return (err as { code?: string }).code === "EPERM";
  }
}

/**
 * Takes the state directory's lock by creating `daemon.pid` exclusively. A lock left by a dead
 * process is reclaimed; a live holder is refused.
 *
 * @returns a function that releases the lock.
 * @throws {LockedError} when another live daemon holds it.
 */
export function acquireLock(paths: StatePaths): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(paths.lock, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(paths.lock, "utf8").trim() === String(process.pid)) rmSync(paths.lock);
        } catch { /* already gone */ }
      };
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
      let holder = NaN;
      try {
        holder = Number(readFileSync(paths.lock, "utf8").trim());
      } catch { /* vanished between open and read: retry */ }
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new LockedError(
          `Cannot start daemon: state directory "${paths.dir}" is in use by another cohort daemon (pid ${holder})`,
        );
      }
      rmSync(paths.lock, { force: true });
    }
  }
  throw new LockedError(`Cannot start daemon: could not lock state directory "${paths.dir}"`);
}

/** What `daemon.json` records once a member is initialised. */
export interface DaemonConfig {
  /** Member name. */
  name: string;
  /** `host:port` the member serves HTTPS and gossip on. */
  address: string;
}

/** Reads `daemon.json`; `undefined` when the member is not initialised. */
export function readDaemonConfig(paths: StatePaths): DaemonConfig | undefined {
  let text: string;
  try {
    text = readFileSync(paths.config, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw err;
  }
  let value: Partial<DaemonConfig>;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidInputError(`Cannot read "${paths.config}": it is not valid JSON`);
  }
  if (typeof value.name !== "string" || typeof value.address !== "string") {
    throw new InvalidInputError(`Cannot read "${paths.config}": name and address are required`);
  }
  return { name: value.name, address: value.address };
}

/** Writes `daemon.json` atomically (temporary file, then rename). */
export function writeDaemonConfig(paths: StatePaths, config: DaemonConfig): void {
  const tmp = `${paths.config}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, JSON.stringify(config, null, 2) + "\n");
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, paths.config);
}

/** Removes `daemon.json`, returning the member to the uninitialised state. */
export function removeDaemonConfig(paths: StatePaths): void {
  rmSync(paths.config, { force: true });
}
