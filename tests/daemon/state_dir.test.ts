import { existsSync, statSync, writeFileSync } from "node:fs";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  acquireLock,
  ensureStateDir,
  readDaemonConfig,
  removeDaemonConfig,
  statePaths,
  writeDaemonConfig,
} from "../../lib/daemon/state_dir.ts";
import { LockedError } from "../../lib/errors.ts";
import { removeDir, tempDir } from "../helpers/process.ts";

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

test("acquireLock() refuses a live holder and reclaims a dead one", () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    // A live process that is not us: our parent.
    writeFileSync(paths.lock, `${process.ppid}\n`);
    try {
      acquireLock(paths);
      assert.unreachable("a live holder must be refused");
    } catch (err) {
      assert.instance(err, LockedError);
      assert.match((err as Error).message, `pid ${process.ppid}`);
    }
    writeFileSync(paths.lock, "999999999\n");
    const release = acquireLock(paths);
    assert.ok(existsSync(paths.lock));
    release();
    assert.not.ok(existsSync(paths.lock));
  } finally {
    removeDir(dir);
  }
});

test("daemon.json round-trips and its absence means uninitialised", () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    assert.is(readDaemonConfig(paths), undefined);
    writeDaemonConfig(paths, { name: "c1", address: "127.0.0.1:9000" });
    assert.equal(readDaemonConfig(paths), { name: "c1", address: "127.0.0.1:9000" });
    removeDaemonConfig(paths);
    assert.is(readDaemonConfig(paths), undefined);
    writeFileSync(paths.config, "{");
    assert.throws(() => readDaemonConfig(paths), /not valid JSON/);
  } finally {
    removeDir(dir);
  }
});

test.run();
