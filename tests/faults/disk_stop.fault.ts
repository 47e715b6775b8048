/**
 * A member whose disk fails just before it stops, as an operator meets it: a real daemon whose
 * state directory is ext4 over a device that fails every read and write on demand
 * (`failing_disk.ts`). What the store committed since its last checkpoint sits in its log,
 * written but not yet synced (`synchronous = NORMAL`): the stop's checkpoint is what stores it.
 * When that checkpoint fails, the stop says it did not store what it had to and exits 1 (it
 * logged "Daemon stopped" and exited 0, so a supervisor recorded a clean stop).
 *
 * Another process reading the database at the stop (an operator's `sqlite3` session, a backup;
 * `db_reader.ts`) keeps that checkpoint from copying the log back: it answered "busy" without
 * syncing anything, and the stop said "Daemon stopped" and exited 0 with its last commits in
 * the page cache only, also on a failing disk.
 *
 * Needs root (mount, losetup), /dev/fuse, gcc and libfuse3; registered through `faultTest`, so
 * it skips visibly where it cannot run.
 */
import process from "node:process";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  api,
  bootstrap,
  eventually,
  issueToken,
  logLines,
  type Member,
  newMember,
  startMember,
} from "../helpers/cluster.ts";
import { exitOf, lastLines, removeDir, tempDir } from "../helpers/process.ts";
import { type DbReader, holdReader, logFrames } from "./db_reader.ts";
import { diskSuite, teardown } from "./disks.ts";
import { failingDisk, failingDiskProgram } from "./failing_disk.ts";
import { faultTest } from "./suite.ts";
import { underCi } from "./system.ts";

const { test, current } = diskSuite("a member's disk fails before it stops");

const buildDir = tempDir("cohort-eiostop-");
test.after(() => removeDir(buildDir));

/** A `sqlite3` reader holding `m`'s database, or `undefined` after saying why there is none. */
async function reader(m: Member): Promise<DbReader | undefined> {
  const held = await holdReader(database(m));
  if (typeof held !== "string") return held;
  if (underCi) assert.unreachable(`no sqlite3 to read the database with: ${held}`);
  console.log(`SKIPPED (no sqlite3 to read the database with: ${held})`);
}

const database = (m: Member) => join(m.dir, "database", "cohort.db");

/**
 * Starts and bootstraps `m`, has `sqlite3` hold a read transaction on its database, then has
 * `m` commit a token: the commit the stop must store. `undefined` when there is no `sqlite3`.
 */
async function commitAfterRead(m: Member): Promise<DbReader | undefined> {
  await startMember(m);
  await bootstrap(m);
  const held = await reader(m);
  try {
    if (held) await issueToken(m, "after-the-read-began");
  } catch (err) {
    await held?.kill();
    throw err;
  }
  return held;
}

/** The message of the last line `m`'s daemon logged. */
function lastMessage(m: Member): string {
  const lines = m.daemon!.logs().trimEnd().split("\n");
  return JSON.parse(lines[lines.length - 1]!).msg;
}

faultTest(test, "a stop whose store cannot sync its log exits 1 and says so", async () => {
  const program = failingDiskProgram(buildDir);
  if (!program) return;
  const m = await newMember("es");
  current.push(m);
  const disk = await failingDisk(m.dir, program);
  try {
    await startMember(m);
    await bootstrap(m);
    await issueToken(m, "t1");
    disk.failKeepingCache(); // writes into cached pages still succeed; syncs fail
    process.kill(m.daemon!.child.pid!, "SIGTERM");
    // Its last writes (its heartbeats', the token's unless checkpointed) sit in its log,
    // unsynced: it said "Daemon stopped" and exited 0 with them lost.
    assert.is(await exitOf(m.daemon!, "es's stop", 60_000), 1, lastLines(m.daemon!));
    assert.match(lastMessage(m), FAILED);
  } finally {
    await teardown([m], [disk]);
  }
});

faultTest(
  test,
  "a stop while sqlite3 reads the database syncs its log, and says when it cannot",
  async () => {
    const program = failingDiskProgram(buildDir);
    if (!program) return;
    const m = await newMember("er");
    current.push(m);
    const disk = await failingDisk(m.dir, program);
    let held: DbReader | undefined;
    try {
      held = await commitAfterRead(m);
      if (!held) return;
      assert.ok(logFrames(database(m)) > 0, "the token's commit sits in the log");
      disk.failKeepingCache();
      process.kill(m.daemon!.child.pid!, "SIGTERM");
      // The checkpoint answered busy and synced nothing: "Daemon stopped", exit 0.
      assert.is(await exitOf(m.daemon!, "er's stop", 60_000), 1, lastLines(m.daemon!));
      assert.match(lastMessage(m), FAILED);
    } finally {
      await held?.kill();
      await teardown([m], [disk]);
    }
  },
);

faultTest(
  test,
  "a stop while sqlite3 reads the database keeps its log, synced, for the next start",
  async () => {
    const m = await newMember("ek");
    current.push(m);
    let held: DbReader | undefined;
    try {
      held = await commitAfterRead(m);
      if (!held) return;
      process.kill(m.daemon!.child.pid!, "SIGTERM");
      assert.is(await exitOf(m.daemon!, "ek's stop", 60_000), 0, lastLines(m.daemon!));
      assert.is(lastMessage(m), "Daemon stopped", "nothing was lost: a clean stop");
      assert.is(
        logLines(m, /^Stopping with the database's log kept/).length,
        1,
        `it says why its log stays:\n${lastLines(m.daemon!)}`,
      );
      assert.ok(logFrames(database(m)) > 0, "the log still holds the commits");
      await held.kill();
      assert.ok(existsSync(`${database(m)}-wal`), "the reader, killed, left the log");
      await startMember(m);
      // Answered once the restarted member is online (503 until then).
      const tokens = await eventually("ek's tokens after its restart", async () => {
        const res = await api(m, "GET", "/core/control/tokens");
        return res.status === 200 && res.body.metadata.map((t: { name: string }) => t.name);
      }, 60_000);
      assert.equal(tokens, ["after-the-read-began"], "the next start read the commit from the log");
    } finally {
      await held?.kill();
      await teardown([m], []);
    }
  },
);

/** The last line of a stop whose disk failed its store's sync. */
const FAILED =
  /^Daemon stopped without storing what it had to: the disk of state directory "[^"]+" failed/;

test.run();
