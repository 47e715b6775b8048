import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  acquireLock,
  ensureStateDir,
  readDaemonConfig,
  removeDaemonConfig,
  type StatePaths,
  statePaths,
} from "../../lib/daemon/state_dir.ts";
import { writeDaemonConfig } from "../../lib/daemon/join_config.ts";
import { InvalidInputError, LockedError } from "../../lib/errors.ts";
import { moduleCommand } from "../../lib/runtime.ts";
import { removeDir, spawnTracked, tempDir } from "../helpers/process.ts";
import { rejection } from "../store/helpers.ts";

const test = suite("state directory");

test("ensureStateDir() creates the directory and database folder with their modes", () => {
  const dir = tempDir();
  try {
    const paths = statePaths(`${dir}/state`);
    ensureStateDir(paths);
    assert.is(statSync(paths.dir).mode & 0o777, 0o711);
    assert.is(statSync(paths.databaseDir).mode & 0o777, 0o700);
  } finally {
    removeDir(dir);
  }
});

test("ensureStateDir() tightens a state directory that exists with looser modes, and keeps stricter ones", () => {
  const dir = tempDir();
  try {
    const paths = statePaths(join(dir, "state"));
    mkdirSync(paths.databaseDir, { recursive: true });
    chmodSync(paths.dir, 0o755);
    chmodSync(paths.databaseDir, 0o775);
    ensureStateDir(paths);
    assert.is(statSync(paths.dir).mode & 0o777, 0o711);
    assert.is(statSync(paths.databaseDir).mode & 0o777, 0o700);
    chmodSync(paths.dir, 0o700);
    ensureStateDir(paths);
    assert.is(statSync(paths.dir).mode & 0o777, 0o700, "a stricter mode is kept");
  } finally {
    removeDir(dir);
  }
});

test("ensureStateDir() refuses a directory shared with other users (sticky bit, as /tmp) and leaves it as it is", () => {
  const dir = tempDir();
  try {
    chmodSync(dir, 0o1777);
    assert.throws(
      () => ensureStateDir(statePaths(dir)),
      (err: Error) =>
        err instanceof InvalidInputError &&
        /shared with other users \(mode 01777\)/.test(err.message),
    );
    assert.is(statSync(dir).mode & 0o7777, 0o1777);
  } finally {
    removeDir(dir);
  }
});

/** A process holding the lock of `dir` (tests/daemon/fixtures/hold_lock.ts) once it printed. */
async function holdLock(dir: string): Promise<ChildProcess> {
  const { command, args } = moduleCommand(join(import.meta.dirname!, "fixtures/hold_lock.ts"));
  const child = spawnTracked(command, [...args, dir], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  await new Promise<void>((done, fail) => {
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("locked")) done();
    });
    child.on("exit", (code) => fail(new Error(`the lock holder exited with ${code}`)));
  });
  return child;
}

/** A live process that is not a cohort daemon (what a reused pid belongs to). */
function unrelated(): ChildProcess {
  return spawnTracked("sleep", ["60"], { stdio: "ignore" });
}

function exited(child: ChildProcess): Promise<unknown> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once("exit", r));
}

function refused(paths: StatePaths, pid: number): void {
  try {
    acquireLock(paths)();
    assert.unreachable("a live holder must be refused");
  } catch (err) {
    assert.instance(err, LockedError);
    assert.match((err as Error).message, `in use by another cohort daemon (pid ${pid})`);
  }
}

function taken(paths: StatePaths): void {
  const release = acquireLock(paths);
  assert.is(readFileSync(paths.lock, "utf8").split("\n")[0], String(process.pid));
  release();
  assert.not.ok(existsSync(paths.lock));
}

test("acquireLock() refuses a lock held by a live daemon process, and takes it once released", async () => {
  const dir = tempDir();
  const holder = await holdLock(dir);
  try {
    refused(statePaths(dir), holder.pid!);
    holder.stdin!.end();
    await exited(holder);
    taken(statePaths(dir));
  } finally {
    holder.kill("SIGKILL");
    removeDir(dir);
  }
});

test("acquireLock() takes over the lock of a daemon killed with SIGKILL whose pid now belongs to another process", async () => {
  const dir = tempDir();
  const other = unrelated();
  try {
    const paths = statePaths(dir);
    const holder = await holdLock(dir);
    holder.kill("SIGKILL");
    await exited(holder);
    // The pid is reused by an unrelated process (as after a reboot or pid wrap-around): the lock
    // still names the killed daemon's start, not this process's.
    const [, ...rest] = readFileSync(paths.lock, "utf8").split("\n");
    writeFileSync(paths.lock, [String(other.pid), ...rest].join("\n"));
    taken(paths);
  } finally {
    other.kill("SIGKILL");
    removeDir(dir);
  }
});

test("acquireLock() takes over a pid-only lock naming a live process that is not a daemon of this directory", () => {
  const dir = tempDir();
  const other = unrelated();
  try {
    const paths = statePaths(dir);
    // The lock format of earlier versions: the pid alone (here, of `sleep`).
    writeFileSync(paths.lock, `${other.pid}\n`);
    taken(paths);
  } finally {
    other.kill("SIGKILL");
    removeDir(dir);
  }
});

test("acquireLock() takes over a lock written in an earlier boot, even if its pid is alive now", async () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    const holder = await holdLock(dir);
    const [pid, identity] = readFileSync(paths.lock, "utf8").split("\n");
    if (!identity) {
      // No /proc (not Linux): a live pid is all the lock can tell.
      holder.kill("SIGKILL");
      return;
    }
    // The same live holder, but the lock says it started in another boot: not this holder.
    const other = JSON.stringify({ ...JSON.parse(identity), boot: "0".repeat(32) });
    writeFileSync(paths.lock, `${pid}\n${other}\n`);
    taken(paths);
    holder.stdin!.end();
    await exited(holder);
  } finally {
    removeDir(dir);
  }
});

test("acquireLock() reclaims a lock whose holder is gone", () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    writeFileSync(paths.lock, "999999999\n");
    taken(paths);
  } finally {
    removeDir(dir);
  }
});

test("acquireLock() removes what earlier releases' cut-short writes left (their spellings), not a live writer's", () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    // A pid that is gone, and this test's own parent (alive: an earlier daemon's child, say).
    const gone = 999999999;
    const live = process.ppid;
    const left = [
      `daemon.json.${gone}.forget`,
      `daemon.json.${gone}.tmp`,
      `daemon.json.${gone}.respell.tmp`,
      `transition.json.${gone}.tmp`,
      `daemon.pid.${gone}.new`,
      `daemon.pid.${gone}.stale`,
      `server.crt.tmp-${gone}-kq3x9`,
    ];
    const kept = [
      `daemon.json.${live}.forget`,
      `server.crt.tmp-${live}-a1`,
      "notes.tmp",
      "a.1.txt",
    ];
    for (const name of [...left, ...kept]) writeFileSync(join(dir, name), "x");
    const release = acquireLock(paths);
    try {
      const now = readdirSync(dir);
      assert.equal(left.filter((n) => now.includes(n)), [], "every leftover of a gone writer");
      assert.equal(kept.filter((n) => !now.includes(n)), [], "a live writer's and others' files");
    } finally {
      release();
    }
  } finally {
    removeDir(dir);
  }
});

/**
 * A process that ran every atomic write of `dir` on a disk turning read-only mid-write (see
 * fixtures/leave_temporaries.ts), holding on until its standard input ends; with the names it
 * left in `dir`.
 */
async function leaveTemporaries(dir: string): Promise<{ child: ChildProcess; names: string[] }> {
  const fixture = join(import.meta.dirname!, "fixtures/leave_temporaries.ts");
  const { command, args } = moduleCommand(fixture);
  const child = spawnTracked(command, [...args, dir], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  const names = await new Promise<string[]>((done, fail) => {
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("\n")) done(JSON.parse(out));
    });
    child.on("exit", (code) => fail(new Error(`the writer exited with ${code}`)));
  });
  return { child, names };
}

/** The files of the state directory whose writes the fixture cuts short. */
const TARGETS = ["daemon.json", "transition.json", "server.key", "servers.json", "daemon.pid"];

test("acquireLock() removes the temporary every writer of the state directory leaves, once its writer is gone", async () => {
  const dir = tempDir();
  const paths = statePaths(dir);
  const { child, names } = await leaveTemporaries(dir);
  try {
    const temporaries = names.filter((n) => !TARGETS.includes(n));
    const left = (target: string) => temporaries.filter((n) => n.startsWith(`${target}.`));
    // Three writes of daemon.json (a bootstrap's, a join seed's removal, a respelling).
    assert.equal(TARGETS.map((t) => left(t).length), [3, 1, 1, 1, 1], names.join(" "));
    assert.equal(temporaries.length, 7, "nothing else was left");
    acquireLock(paths)();
    const whileAlive = readdirSync(dir);
    assert.equal(temporaries.filter((n) => !whileAlive.includes(n)), [], "a live writer's kept");
    child.stdin!.end();
    await exited(child);
    acquireLock(paths)();
    const after = readdirSync(dir).sort();
    assert.equal(after, names.filter((n) => TARGETS.includes(n) && n !== "daemon.pid").sort());
  } finally {
    child.kill("SIGKILL");
    removeDir(dir);
  }
});

test("daemon.json round-trips and its absence means uninitialised", async () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    assert.is(readDaemonConfig(paths), undefined);
    await writeDaemonConfig(paths, { name: "c1", address: "127.0.0.1:9000" });
    assert.equal(readDaemonConfig(paths), { name: "c1", address: "127.0.0.1:9000" });
    removeDaemonConfig(paths);
    assert.is(readDaemonConfig(paths), undefined);
    writeFileSync(paths.config, "{");
    assert.throws(() => readDaemonConfig(paths), /not valid JSON/);
  } finally {
    removeDir(dir);
  }
});

test("daemon.json of an earlier release gives the address in its one spelling", () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    writeFileSync(paths.config, JSON.stringify({ name: "c1", address: "127.000.000.001:09000" }));
    assert.equal(readDaemonConfig(paths), { name: "c1", address: "127.0.0.1:9000" });
  } finally {
    removeDir(dir);
  }
});

test("a daemon.json write that failed leaves no temporary file behind", async () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    mkdirSync(paths.config); // the rename over it fails, as a write on a full disk would
    await rejection(writeDaemonConfig(paths, { name: "c1", address: "127.0.0.1:9000" }));
    assert.equal(readdirSync(dir), ["daemon.json"]);
  } finally {
    removeDir(dir);
  }
});

test.run();
