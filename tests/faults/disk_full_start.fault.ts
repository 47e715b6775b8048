/**
 * A member restarted on a full disk, as an operator meets it: a real daemon whose state directory
 * is a small tmpfs of its own, filled with `fallocate` while it is stopped. Whatever write the
 * start reaches first, it exits 1 before announcing anything, with "Cannot start daemon:" naming
 * the state directory and what it could not write, leaves no torn file, and starts once room is
 * made:
 *
 * - its lock (it printed `ENOSPC: no space left on device, write` and left
 *   `daemon.pid.PID.new`);
 * - its database's shared memory, which SQLite makes anew when the last connection closed
 *   cleanly (it printed "Open database: no space left on the member's disk
 *   (SQLITE_IOERR_SHMSIZE)", naming no directory);
 * - its own row (the versions and app version it now runs: it said ready with the row
 *   unwritten);
 * - the app's migrations it runs for the first time (it printed "Apply external migrations: …",
 *   naming no directory);
 * - its `daemon.json`, rewritten in the one spelling of its address (`respell.ts`) when an
 *   earlier release kept it as typed;
 * - the store rows an initialisation cut short left, which the start clears (it printed "Clear
 *   replicated records: …", naming no directory).
 *
 * Each case empties the member's log first (`empty_log.ts`): a start reuses the room of a log
 * left behind.
 *
 * Needs root (mount); registered through `faultTest`, so it skips visibly where it cannot run.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as assert from "uvu/assert";
import {
  APP_MIGRATIONS,
  bootstrap,
  daemonArgs,
  eventually,
  isClean,
  type Member,
  members,
  sql,
  startMember,
  type StartOptions,
  stop,
} from "../helpers/cluster.ts";
import { exitOf, lastLines, startDaemonProcess } from "../helpers/process.ts";
import { diskSuite, fill, leftovers, type Mounted, teardown, tmpfs, unfill } from "./disks.ts";
import { emptyLog } from "./empty_log.ts";
import { faultTest } from "./suite.ts";

const { test, memberOn } = diskSuite("a member restarted on a full disk");

/** A member whose state directory is a 2 MB tmpfs, bootstrapped and stopped; with the mount. */
async function stoppedMember(name: string): Promise<[Member, Mounted]> {
  const [m, fs] = await memberOn(name, (dir) => tmpfs(dir, "2m"));
  try {
    await bootstrap(m);
    await stop(m);
  } catch (err) {
    await teardown([m], [fs]); // a bootstrap that failed (its port taken meanwhile) leaves nothing
    throw err;
  }
  return [m, fs];
}

/**
 * Starts `m` with `options` on its full disk and asserts that the start fails (exit 1) saying
 * so: "Cannot start daemon: no space left on the disk of state directory "DIR"", then ` for
 * ${what}` where given; and that it leaves no torn file. Makes room again.
 */
async function refusedStart(m: Member, options: StartOptions, what?: string): Promise<void> {
  const refused = startDaemonProcess(daemonArgs(m, options));
  try {
    assert.is(await exitOf(refused, "the daemon on a full disk", 60_000), 1, lastLines(refused));
    const said = `Cannot start daemon: no space left on the disk of state directory "${m.dir}"` +
      (what ? ` for ${what}` : ":");
    assert.ok(refused.logs().includes(said), `says "${said}":\n${refused.logs()}`);
    assert.equal(leftovers(m.dir), [], "no torn file");
  } finally {
    unfill(m.dir);
  }
}

/** Starts `m` with `options` and waits until it lists itself online. */
async function startsOnline(m: Member, options: StartOptions = {}): Promise<void> {
  await startMember(m, options);
  await eventually(`${m.name} online`, async () => (await members(m))[0]?.status === "ONLINE");
}

faultTest(test, "a restart that cannot write its lock says so", async () => {
  const [m, fs] = await stoppedMember("r1");
  try {
    await fill(m.dir);
    await refusedStart(m, {});
    await startsOnline(m);
  } finally {
    await teardown([m], [fs]);
  }
});

faultTest(test, "a restart that cannot make its database's shared memory says so", async () => {
  const [m, fs] = await stoppedMember("r3");
  try {
    emptyLog(m.dir);
    // As the last connection's clean close leaves the database (an operator's `sqlite3` on it):
    // neither its log nor its shared-memory file, which the start must make (32 kB).
    for (const f of ["cohort.db-wal", "cohort.db-shm"]) rmSync(join(m.dir, "database", f));
    await fill(m.dir, 4096); // room for the lock
    await refusedStart(m, {}, "its database");
    await startsOnline(m);
  } finally {
    await teardown([m], [fs]);
  }
});

faultTest(test, "a restart whose store cannot take its own row says so", async () => {
  const [m, fs] = await stoppedMember("r2");
  const upgraded = { flags: ["--app-version", "2.0.0"] };
  try {
    emptyLog(m.dir);
    await fill(m.dir, 4096); // room for the lock, none for what the store appends to its log
    await refusedStart(m, upgraded, "its own row");
    await startsOnline(m, upgraded);
    const row = await sql(m, "SELECT app_version FROM core_cluster_members");
    assert.equal(row.body.metadata.results[0].rows, [["2.0.0"]], "its own row, once started");
  } finally {
    await teardown([m], [fs]);
  }
});

faultTest(test, "a restart that cannot apply the app's new migrations says so", async () => {
  const [m, fs] = await stoppedMember("r4");
  const migrating = { appMigrations: APP_MIGRATIONS };
  try {
    emptyLog(m.dir);
    await fill(m.dir, 4096);
    await refusedStart(m, migrating, "the app's migrations");
    await startsOnline(m, migrating);
    const applied = await sql(m, "SELECT count(*) FROM __cohort_app_migrations");
    assert.equal(applied.body.metadata.results[0].rows, [[2]], "applied once room is made");
  } finally {
    await teardown([m], [fs]);
  }
});

faultTest(
  test,
  "a restart that cannot rewrite daemon.json in the one spelling says so",
  async () => {
    const [m, fs] = await stoppedMember("r5");
    const config = join(m.dir, "daemon.json");
    try {
      // As an earlier release kept the address: as typed (`127.0.0.1:0P`).
      const typed = m.address.replace(/:(\d+)$/, ":0$1");
      writeFileSync(config, JSON.stringify({ name: m.name, address: typed }, null, 2) + "\n");
      emptyLog(m.dir);
      await fill(m.dir, 4096);
      await refusedStart(m, {}, "daemon.json");
      assert.is(JSON.parse(readFileSync(config, "utf8")).address, typed, "left as it was");
      await startsOnline(m);
      assert.is(JSON.parse(readFileSync(config, "utf8")).address, m.address, "rewritten");
    } finally {
      await teardown([m], [fs]);
    }
  },
);

faultTest(
  test,
  "a restart that cannot clear what an initialisation cut short says so",
  async () => {
    const [m, fs] = await stoppedMember("r6");
    try {
      // As a bootstrap killed before its daemon.json was written leaves it: certificates and
      // store rows, no configuration. The start clears them, its store first.
      rmSync(join(m.dir, "daemon.json"));
      emptyLog(m.dir);
      await fill(m.dir, 4096);
      await refusedStart(m, {}, "its store, to finish or undo what a crash cut short");
      await startMember(m);
      await eventually("the leftovers cleared", () => Promise.resolve(isClean(m)));
      await bootstrap(m);
      assert.equal((await members(m)).map((e) => e.name), ["r6"], "a new cluster of one");
    } finally {
      await teardown([m], [fs]);
    }
  },
);

test.run();
