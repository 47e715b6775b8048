/**
 * A member whose disk fails (EIO), as an operator meets it: real daemons, the probed member's
 * state directory on ext4 over a block device that fails every read and write on demand (see
 * `failing_disk.ts`: a loop device over a FUSE file; the kernel has no device-mapper). ext4 meets
 * real I/O errors: writes back and syncs fail with EIO, reads past the cache too (SQLite reports
 * those as a damaged database), and once its journal fails it turns itself read-only.
 *
 * - the member keeps serving and listing every member, and so do the others; a join needing its
 *   claim is refused saying its disk failed; its failed store writes are logged once (it logged
 *   "database disk image is malformed" as an internal error, a second warning); `cohort sql`
 *   on it says its disk failed (it said "file is not a database", 400, as if the user's
 *   fault); restarted on it, it stops saying why; once repaired (stopped, the device replaced,
 *   `e2fsck`, mounted) it starts, writes what it owes, admits the join it refused, and nothing
 *   is half-written: its database is intact, no temporary file is left.
 *
 * Needs root (mount, losetup), /dev/fuse, gcc and libfuse3 (installed with apt-get when
 * missing); registered through `faultTest`, so it skips visibly where it cannot run.
 */
import { readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import * as assert from "uvu/assert";
import {
  bootstrap,
  daemonArgs,
  eventually,
  issueToken,
  join_,
  logLines,
  newMember,
  run,
  sql,
  startMember,
  stop,
} from "../helpers/cluster.ts";
import { exitOf, lastLines, removeDir, startDaemonProcess, tempDir } from "../helpers/process.ts";
import { assertIntact, diskSuite, names, teardown } from "./disks.ts";
import { failingDisk, failingDiskProgram } from "./failing_disk.ts";
import { faultTest } from "./suite.ts";

const { test, member, current } = diskSuite("a member's disk fails (EIO)");

/** Where the failing disk's program is built, once for the file. */
const buildDir = tempDir("cohort-eio-");
test.after(() => removeDir(buildDir));
/** What a member whose disk failed tells a client: EIO, or read-only once ext4 gave up. */
const DISK =
  /Cannot write to the member's disk: the (disk of its state directory failed an I\/O operation \(EIO\)|file system of its state directory is read-only)/;

faultTest(
  test,
  "a member whose disk fails keeps serving, says why, and catches up once repaired, nothing half-written",
  async () => {
    const program = failingDiskProgram(buildDir);
    if (!program) return;
    const a1 = await member("e1");
    const a2 = await newMember("e2");
    current.push(a2);
    const disk = await failingDisk(a2.dir, program);
    const j = await member("ej");
    const all = [a1, a2, j];
    try {
      await startMember(a2);
      await bootstrap(a1);
      const r = await join_(a2, await issueToken(a1, a2.name));
      assert.is(r.code, 0, r.stderr);
      await eventually("e2 storing the roster", async () => {
        const res = await sql(a2, "SELECT count(*) AS n FROM core_cluster_members");
        return res.status === 200 && res.body.metadata.results[0].rows[0][0] === 2;
      });
      disk.fail();
      const failing = Date.now();
      // A join needs e2's claim (a majority of two): e2 cannot write it (its sync fails), and
      // says why. Writes that no sync follows land in the page cache until ext4 gives up.
      const token = await issueToken(a1, j.name);
      const refused = await join_(j, token);
      assert.is(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, DISK);
      // Its reads fail: SQLite calls that a damaged database; the client hears of a disk.
      for (let i = 0; i < 3; i++) {
        const q = await run(a2, ["sql", "SELECT count(*) FROM core_token_records"]);
        assert.is(q.code, 1, q.stdout);
        assert.match(
          q.stderr,
          /Error: Execute SQL: the (database in its state directory cannot be read|disk of its state directory failed)/,
        );
      }
      disk.sync(); // ext4 gives up: read-only from now on
      await issueToken(a1, "owed"); // a token e2 must store
      await eventually(
        "e2 failing to store it",
        () => Promise.resolve(logLines(a2, /persist/).length > 0),
      );
      await sleep(Math.max(0, failing + 4000 - Date.now()));
      assert.equal(await names(a2), ["e1:ONLINE", "e2:ONLINE"], "e2 still serving");
      assert.equal(await names(a1), ["e1:ONLINE", "e2:ONLINE"], "e1 sees it serving");
      const logged = logLines(a2, /persist/);
      assert.is(logged.length, 1, `one line for a run of failures:\n${logged.join("\n")}`);
      assert.equal(logLines(a2, /internal error/), [], "no internal error");
      // Restarted on it: stops saying why.
      await stop(a2);
      const again = startDaemonProcess(daemonArgs(a2));
      assert.is(await exitOf(again, "the daemon on a failed disk", 60_000), 1, lastLines(again));
      assert.match(
        again.logs(),
        /Cannot start daemon: the (disk|file system) of state directory "[^"]+" (failed|is read-only)/,
        lastLines(again),
      );
      disk.repair();
      await startMember(a2);
      await eventually("e2 back", async () => (await names(a2)).join() === "e1:ONLINE,e2:ONLINE");
      await eventually("e2 storing what it owes", async () => {
        const res = await sql(a2, "SELECT name FROM core_token_records WHERE name = 'owed'");
        return res.status === 200 && res.body.metadata.results[0].rows.length === 1;
      });
      // The refused round released its claims: the same token admits ej now.
      const joined = await join_(j, token);
      assert.is(joined.code, 0, joined.stderr);
      await stop(a2);
      await assertIntact(a2);
      const torn = readdirSync(a2.dir).filter((f) => /\.(tmp|forget|new)$/.test(f));
      assert.equal(torn, [], "no temporary file left");
    } finally {
      await teardown(all, [disk]);
    }
  },
);

faultTest(
  test,
  "a member restarted on a failing disk stops saying why, and starts with its cluster once repaired",
  async () => {
    const program = failingDiskProgram(buildDir);
    if (!program) return;
    const m = await newMember("er");
    current.push(m);
    const disk = await failingDisk(m.dir, program);
    try {
      await startMember(m);
      await bootstrap(m);
      await stop(m);
      disk.fail(); // ext4 has not met it yet: its reads fail, its writes are cached
      const refused = startDaemonProcess(daemonArgs(m));
      assert.is(await exitOf(refused, "the daemon on a failing disk", 60_000), 1);
      // It printed the bare "Error: EIO: i/o error, read", or the store's "Open database: the
      // database in its state directory cannot be read", naming no directory.
      assert.match(
        refused.logs(),
        /Cannot start daemon: (cannot read its database: )?the disk of state directory "[^"]+" failed (an I\/O operation \(EIO\)|a read \(EIO\))/,
        lastLines(refused),
      );
      disk.repair();
      await startMember(m);
      await eventually("er online", async () => (await names(m)).join() === "er:ONLINE");
      await stop(m);
      await assertIntact(m);
    } finally {
      await teardown([m], [disk]);
    }
  },
);

test.run();
