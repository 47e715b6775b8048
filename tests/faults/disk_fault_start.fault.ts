/**
 * A member restarted with its database on a disk that fails, as an operator meets it: a real
 * daemon whose state directory takes its lock, but whose `database/` is a file system of its own
 * (an ext4 volume, as an operator gives a database) that turned read-only (ext4's
 * `trigger_fs_error`, the path of a real I/O error). Whatever step meets it first, the start exits 1 with "Cannot start
 * daemon:" naming the state directory, the fault and what it could not do, as a full disk's does
 * (`disk_full_start.fault.ts`), and starts once repaired:
 *
 * - opening its database, or its own row, on a read-only volume (it printed the store's "Upsert
 *   …"/"Open database: …" naming no directory);
 * - the app's migrations it runs for the first time (it printed "Apply external migrations: …");
 * - the store rows an initialisation cut short left, which the start clears (it printed "Clear
 *   replicated records: …");
 * - opening its database on a device that fails (EIO, `failing_disk.ts`; it printed "Open
 *   database: the database in its state directory cannot be read", naming no directory).
 *
 * Needs root (mount, losetup; the failing device also /dev/fuse, gcc, libfuse3); registered
 * through `faultTest`, so it skips visibly where it cannot run.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as assert from "uvu/assert";
import {
  APP_MIGRATIONS,
  bootstrap,
  daemonArgs,
  eventually,
  type Member,
  members,
  newMember,
  startMember,
  type StartOptions,
  stop,
} from "../helpers/cluster.ts";
import { exitOf, lastLines, removeDir, startDaemonProcess, tempDir } from "../helpers/process.ts";
import { diskSuite, ext4, type Mounted, teardown } from "./disks.ts";
import { failingDisk, failingDiskProgram } from "./failing_disk.ts";
import { faultTest } from "./suite.ts";

const { test, current } = diskSuite("a member restarted with its database on a failing disk");

/** Where the failing device's program is built, once for the file (see `failing_disk.ts`). */
const buildDir = tempDir("cohort-dbfault-");
test.after(() => removeDir(buildDir));

/** A bootstrapped, stopped member whose `database/` is moved onto the volume `mount` makes. */
async function stoppedOn<V extends Mounted>(
  name: string,
  mount: (dir: string) => V | Promise<V>,
): Promise<[Member, V]> {
  const m = await newMember(name);
  current.push(m);
  const db = join(m.dir, "database");
  const aside = mkdtempSync(join(tmpdir(), "cohort-db-"));
  let volume: V | undefined;
  try {
    await startMember(m);
    await bootstrap(m);
    await stop(m);
    cpSync(db, aside, { recursive: true });
    for (const f of readdirSync(db)) rmSync(join(db, f), { recursive: true });
    volume = await mount(db);
    cpSync(aside, db, { recursive: true });
    // On the disk before it fails: ext4's failure drops what its journal has not committed.
    assert.ok(spawnSync("sync", ["-f", db]).status === 0, "synced");
    return [m, volume];
  } catch (err) {
    // A start or bootstrap that failed (its port taken meanwhile) leaves nothing behind.
    await teardown([m], volume ? [volume] : []);
    throw err;
  } finally {
    rmSync(aside, { recursive: true, force: true });
  }
}

/**
 * Starts `m` with `options` and asserts that the start fails (exit 1) saying "Cannot start
 * daemon:", naming its state directory and the fault (`fault`), and no SQL.
 */
async function refusedStart(m: Member, options: StartOptions, fault: RegExp): Promise<string> {
  const refused = startDaemonProcess(daemonArgs(m, options));
  const code = await exitOf(refused, "the daemon on a failed disk", 60_000);
  const signal = refused.child.signalCode;
  assert.ok(code === 1, `exit ${code} (${signal}), not 1:\n${lastLines(refused)}`);
  const lines = refused.logs().trimEnd().split("\n");
  const said = lines.map((l) => l.replace(/^Error: /, "")).find((l) =>
    l.startsWith("Cannot start daemon: ")
  );
  assert.ok(said, `says "Cannot start daemon:":\n${refused.logs()}`);
  assert.ok(said!.includes(`state directory "${m.dir}"`), `names the state directory: ${said}`);
  assert.match(said!, fault);
  assert.not.match(said!, /params|insert into|select |update /i, "no SQL");
  return said!;
}

/** Starts `m` with `options` and waits until it lists itself online. */
async function startsOnline(m: Member, options: StartOptions = {}): Promise<void> {
  await startMember(m, options);
  await eventually(`${m.name} online`, async () => (await members(m))[0]?.status === "ONLINE");
}

const READ_ONLY = /is read-only|failed a write \(read-only or failing\)/;

faultTest(test, "a restart whose database volume is read-only says so", async () => {
  const [m, fs] = await stoppedOn("q1", ext4);
  const upgraded = { flags: ["--app-version", "2.0.0"] };
  try {
    fs.fail();
    const said = await refusedStart(m, upgraded, READ_ONLY);
    assert.match(said, /cannot write (its database|its own row)/);
    fs.repair();
    await startsOnline(m, upgraded);
  } finally {
    await teardown([m], [fs]);
  }
});

faultTest(test, "a restart that cannot apply the app's migrations on it says so", async () => {
  const [m, fs] = await stoppedOn("q2", ext4);
  const migrating = { appMigrations: APP_MIGRATIONS };
  try {
    fs.fail();
    const said = await refusedStart(m, migrating, READ_ONLY);
    assert.match(said, /cannot write the app's migrations/);
    fs.repair();
    await startsOnline(m, migrating);
  } finally {
    await teardown([m], [fs]);
  }
});

faultTest(
  test,
  "a restart that cannot clear what an initialisation cut short says so",
  async () => {
    const [m, fs] = await stoppedOn("q3", ext4);
    try {
      rmSync(join(m.dir, "daemon.json")); // as a bootstrap killed before writing it leaves it
      fs.fail();
      await refusedStart(m, {}, READ_ONLY);
      fs.repair();
      await startMember(m);
      await bootstrap(m);
      assert.equal((await members(m)).map((e) => e.name), ["q3"], "a new cluster of one");
    } finally {
      await teardown([m], [fs]);
    }
  },
);

faultTest(test, "a restart whose database device fails says so", async () => {
  const program = failingDiskProgram(buildDir);
  if (!program) return;
  const [m, disk] = await stoppedOn("q4", (d) => failingDisk(d, program));
  try {
    disk.fail();
    const said = await refusedStart(
      m,
      {},
      /failed (an I\/O operation|a read|a write)|is read-only/,
    );
    assert.match(said, /cannot (read|write) its database: /);
    disk.repair();
    await startsOnline(m);
  } finally {
    await teardown([m], [disk]);
  }
});

test.run();
