/**
 * The member's state directory: its layout, the lock that keeps a second daemon out, and the
 * small `daemon.json` that records who this member is once initialised.
 *
 * Layout (modes as MicroCluster's): `DIR` 0711; `DIR/control.socket` 0660; `DIR/database/` 0700
 * holding `cohort.db`; `DIR/server.crt|key` (this member's identity); `DIR/cluster.crt|key`
 * (shared by every member); `DIR/daemon.json`; `DIR/daemon.pid` (the lock); while a change is
 * under way `DIR/transition.json` (`transition.ts`), while a join prepares its commit
 * `DIR/daemon.json.next`, and after a join until the store holds the view it was handed
 * `DIR/join_view.json` and that view's seed in `daemon.json` (`join_config.ts`, `join_view.ts`).
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve, sep } from "node:path";
import process from "node:process";
import { InvalidInputError, LockedError } from "../errors.ts";
import { storedAddress } from "../cluster/address_stored.ts";
import { tempName, tempWriter } from "../temp_name.ts";
import { startRefusal } from "./disk_refusal.ts";

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

/**
 * Creates the state directory and its database folder with their modes, and tightens them when
 * they exist with looser ones (made by hand or by an earlier version, e.g. 0755): permission
 * bits beyond 0711 and 0700 are removed, stricter modes are kept.
 *
 * @throws {InvalidInputError} when the state directory is shared (sticky bit, as /tmp), a mode
 *   cannot be tightened (this user does not own the directory), it is not a directory, or this
 *   user may not make or write it
 */
export function ensureStateDir(paths: StatePaths): void {
  const existed = isDirectory(paths.dir);
  try {
    mkdirSync(paths.dir, { recursive: true, mode: 0o711 });
    mkdirSync(paths.databaseDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw unusable(err, paths.dir, existed ? "use" : "create") ?? err;
  }
  tighten(paths.dir, 0o711);
  tighten(paths.databaseDir, 0o700);
}

const octal = (mode: number) => `0${mode.toString(8)}`;

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The operator's mistake behind a failure to make or write the state directory, when it is one:
 * a file in the way, or a directory this user may not write (often one made by root, as after a
 * `sudo cohort daemon`). Other failures (a full or failing disk) are left to the caller.
 */
function unusable(
  err: unknown,
  dir: string,
  doing: "create" | "use",
): InvalidInputError | undefined {
  const code = (err as { code?: string }).code;
  if (code === "EEXIST" || code === "ENOTDIR") {
    return new InvalidInputError(
      `State directory "${dir}" is not a directory: a file stands at it or on its path`,
      { field: "stateDir", cause: err },
    );
  }
  if (code !== "EACCES" && code !== "EPERM") return undefined;
  const uid = process.getuid?.();
  let owner = "";
  try {
    const holder = doing === "use" ? dir : parentOf(dir);
    const of = statSync(holder).uid;
    const subject = holder === dir ? "it" : `"${holder}"`;
    if (of !== uid) owner = `; ${subject} belongs to uid ${of} and this daemon runs as uid ${uid}`;
  } catch { /* the owner is only a hint */ }
  return new InvalidInputError(
    `Cannot ${doing} state directory "${dir}": permission denied (${code})${owner}: ` +
      (doing === "use"
        ? "run the daemon as its owner, or give it a directory of its own"
        : "give the daemon a directory its user may make and write"),
    { field: "stateDir", cause: err },
  );
}

function parentOf(dir: string): string {
  let at = resolve(dir);
  while (!isDirectory(at) && at !== resolve(at, "..")) at = resolve(at, "..");
  return at;
}

function tighten(dir: string, allowed: number): void {
  const mode = statSync(dir).mode & 0o7777;
  if (mode & 0o1000) {
    // Tightening a directory every user writes to (/tmp) would break it for all of them.
    throw new InvalidInputError(
      `State directory "${dir}" is shared with other users (mode ${
        octal(mode)
      }): use a directory of its own, e.g. "${join(dir, "cohort")}"`,
      { field: "stateDir" },
    );
  }
  if ((mode & 0o777 & ~allowed) === 0) return;
  try {
    chmodSync(dir, (mode & 0o7000) | (mode & allowed));
  } catch (err) {
    throw new InvalidInputError(
      `Cannot tighten "${dir}" from mode ${octal(mode)} to ${octal(mode & allowed)}: ${
        (err as { code?: string }).code ?? err
      }`,
      { field: "stateDir" },
    );
  }
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
 * What tells a process apart from a later one with the same pid, where the system says it
 * (Linux `/proc`): the boot it runs in, its start time (clock ticks since boot) and a digest of
 * its command line.
 */
interface ProcessIdentity {
  boot: string;
  start: string;
  command: string;
}

/** The identity of process `pid`; `undefined` without `/proc` or once the process is gone. */
function identityOf(pid: number): ProcessIdentity | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The fields after the command name (which may hold spaces and parentheses) start with the
    // state, field 3; the start time is field 22.
    const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const cmdline = readFileSync(`/proc/${pid}/cmdline`);
    const command = createHash("sha256").update(cmdline).digest("hex").slice(0, 32);
    return start && boot ? { boot, start, command } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` has a file open inside `dir`; `undefined` when that cannot be read. */
function hasFileOpenIn(pid: number, dir: string): boolean | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const inside = resolve(dir) + sep;
  return fds.some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(inside);
    } catch {
      return false;
    }
  });
}

/** The lock's content: the pid on the first line (as any pid file), then its identity. */
function lockText(): string {
  const identity = identityOf(process.pid);
  return `${process.pid}\n${identity ? JSON.stringify(identity) + "\n" : ""}`;
}

/**
 * The pid of the process holding the lock `text`, or `undefined` when the lock is stale. A live
 * pid proves nothing after a `kill -9` or a reboot, when it may belong to any process by now
 * (a `sleep` once kept a member from starting), so where `/proc` tells, the holder must also
 * have the boot, start time and command line the lock recorded. A lock without them (written by
 * an earlier version) is held only by a process with a file open in the state directory. Without
 * `/proc`, a live pid holds it.
 */
function holder(text: string, paths: StatePaths): number | undefined {
  const [first, second] = text.split("\n");
  const pid = Number(first.trim());
  // A lock naming this very process is left over from a member of this process that did not
  // stop cleanly.
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid || !alive(pid)) return undefined;
  const now = identityOf(pid);
  // No identity for a live pid: gone since (where /proc works), or no /proc to tell.
  if (!now) return identityOf(process.pid) ? undefined : pid;
  let recorded: Partial<ProcessIdentity> | undefined;
  try {
    recorded = second?.trim() ? JSON.parse(second) : undefined;
  } catch { /* unreadable: as if absent */ }
  if (!recorded) return hasFileOpenIn(pid, paths.dir) === false ? undefined : pid;
  const same = recorded.boot === now.boot && recorded.start === now.start &&
    recorded.command === now.command;
  return same ? pid : undefined;
}

/**
 * The pid of the daemon holding the state directory's lock, or `undefined` when there is none
 * or it is stale (see `holder`): a daemon on a read-only disk stops without removing its lock.
 */
export function lockHolder(paths: StatePaths): number | undefined {
  let text: string;
  try {
    text = readFileSync(paths.lock, "utf8");
  } catch {
    return undefined;
  }
  return holder(text, paths);
}

/**
 * Takes the state directory's lock, `daemon.pid`, created whole in one step (written aside, then
 * linked into place, which fails when it exists). A lock whose holder is gone, or is not the
 * process that took it (after a `kill -9` or a reboot its pid may belong to any process), is
 * reclaimed; a live holder is refused.
 *
 * @returns a function that releases the lock.
 * @throws {LockedError} when another live daemon holds it.
 * @throws {NoSpaceError} when the lock cannot be written for a full disk.
 * @throws {DiskError} when it cannot be written for a read-only file system or an I/O error.
 */
export function acquireLock(paths: StatePaths): () => void {
  const mine = lockText();
  const aside = tempName(paths.lock);
  try {
    try {
      writeFileSync(aside, mine, { mode: 0o600 });
    } catch (err) {
      const mistake = unusable(err, paths.dir, "use");
      if (mistake) throw mistake;
      throw startRefusal(err, undefined, paths.dir);
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(aside, paths.lock);
        sweepLeftovers(paths);
        return () => {
          try {
            if (readFileSync(paths.lock, "utf8") === mine) rmSync(paths.lock);
          } catch { /* already gone */ }
        };
      } catch (err) {
        if ((err as { code?: string }).code !== "EEXIST") throw err;
      }
      let text: string;
      try {
        text = readFileSync(paths.lock, "utf8");
      } catch {
        continue; // removed between the link and the read: retry
      }
      const pid = holder(text, paths);
      if (pid !== undefined) {
        throw new LockedError(
          `Cannot start daemon: state directory "${paths.dir}" is in use by another cohort daemon (pid ${pid})`,
        );
      }
      reclaim(paths, text);
    }
  } finally {
    rmSync(aside, { force: true });
  }
  throw new LockedError(`Cannot start daemon: could not lock state directory "${paths.dir}"`);
}

/**
 * Removes the temporary files (named by `temp_name.ts`, which every atomic write of the state
 * directory uses) that an earlier daemon's writes left in it: a write cut short by a crash, or by a disk that turned read-only between the write and its rename (the removal
 * failed too). Run once the lock is held, so no other daemon of this directory writes there;
 * a file of a process still alive (an earlier daemon's certificate process) is left. Best effort:
 * a disk that refuses the removal is reported by the start's own writes.
 *
 * @returns the names removed.
 */
export function sweepLeftovers(paths: StatePaths): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(paths.dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const pid = tempWriter(name);
    if (pid === undefined || pid === process.pid || alive(pid)) continue;
    try {
      rmSync(join(paths.dir, name), { force: true });
      removed.push(name);
    } catch { /* refused: the start's writes say why */ }
  }
  return removed;
}

/**
 * Removes the stale lock `text`, and only it: it is moved aside first, so that a lock another
 * starting daemon took in the meantime is put back instead of removed.
 */
function reclaim(paths: StatePaths, text: string): void {
  const stale = tempName(paths.lock);
  try {
    renameSync(paths.lock, stale);
  } catch {
    return; // gone already
  }
  try {
    if (readFileSync(stale, "utf8") !== text) linkSync(stale, paths.lock);
  } catch { /* another lock is in place already: the next attempt finds it */ }
  rmSync(stale, { force: true });
}

/** What `daemon.json` records once a member is initialised. */
export interface DaemonConfig {
  /** Member name. */
  name: string;
  /** `host:port` the member serves HTTPS and gossip on. */
  address: string;
}

/**
 * Reads `daemon.json`; `undefined` when the member is not initialised. The address comes in its
 * one spelling, also when an earlier release stored another (see `address_stored.ts`).
 */
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
  // An earlier release kept the address as typed (`127.0.0.1:09101`): the member listens,
  // announces and issues tokens at its one spelling.
  return { name: value.name, address: storedAddress(value.address) };
}

/** The text of `daemon.json` holding `config` (and anything a join keeps beside it). */
export const configText = (config: DaemonConfig & { join_seed?: unknown }): string =>
  JSON.stringify(config, null, 2) + "\n";

/** Removes `daemon.json`, returning the member to the uninitialised state. */
export function removeDaemonConfig(paths: StatePaths): void {
  rmSync(paths.config, { force: true });
}
