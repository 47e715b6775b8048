/**
 * A member whose disk fails just before it stops, as an operator meets it: a real daemon whose
 * state directory is ext4 over a device that fails every read and write on demand
 * (`failing_disk.ts`). What the store committed since its last checkpoint sits in its log,
 * written but not yet synced (`synchronous = NORMAL`): the stop's checkpoint is what stores it.
 * When that checkpoint fails, the stop says it did not store what it had to and exits 1 (it
 * logged "Daemon stopped" and exited 0, so a supervisor recorded a clean stop).
 *
 * Needs root (mount, losetup), /dev/fuse, gcc and libfuse3; registered through `faultTest`, so
 * it skips visibly where it cannot run.
 */
import process from "node:process";
import * as assert from "uvu/assert";
import { bootstrap, issueToken, newMember, startMember } from "../helpers/cluster.ts";
import { exitOf, lastLines, removeDir, tempDir } from "../helpers/process.ts";
import { diskSuite, teardown } from "./disks.ts";
import { buildFailingDisk, failingDisk } from "./failing_disk.ts";
import { faultTest } from "./suite.ts";
import { underCi } from "./system.ts";

const { test, current } = diskSuite("a member's disk fails before it stops");

const buildDir = tempDir("cohort-eiostop-");
test.after(() => removeDir(buildDir));

faultTest(test, "a stop whose store cannot sync its log exits 1 and says so", async () => {
  const built = buildFailingDisk(buildDir);
  if (!built.path) {
    if (underCi) assert.unreachable(`cannot build the failing disk: ${built.why}`);
    console.log(`SKIPPED (cannot build the failing disk: ${built.why})`);
    return;
  }
  const m = await newMember("es");
  current.push(m);
  const disk = await failingDisk(m.dir, built.path);
  try {
    await startMember(m);
    await bootstrap(m);
    await issueToken(m, "t1");
    disk.failKeepingCache(); // writes into cached pages still succeed; syncs fail
    process.kill(m.daemon!.child.pid!, "SIGTERM");
    // Its last writes (its heartbeats', the token's unless checkpointed) sit in its log,
    // unsynced: it said "Daemon stopped" and exited 0 with them lost.
    assert.is(await exitOf(m.daemon!, "es's stop", 60_000), 1, lastLines(m.daemon!));
    const lines = m.daemon!.logs().trimEnd().split("\n");
    assert.match(
      JSON.parse(lines[lines.length - 1]!).msg,
      /^Daemon stopped without storing what it had to: the disk of state directory "[^"]+" failed/,
    );
  } finally {
    await teardown([m], [disk]);
  }
});

test.run();
