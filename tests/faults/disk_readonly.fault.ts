/**
 * A member whose file system turns read-only, as an operator meets it: real daemons, each probed
 * member's state directory on an ext4 file system of its own (a loop device, mounted with
 * `errors=remount-ro`), broken under the running daemon through ext4's `trigger_fs_error`, which
 * takes the path of a real I/O error: the file system remounts itself read-only and every write
 * fails with `EROFS` (SQLite's with `SQLITE_IOERR_WRITE`). A tmpfs cannot stand in: the kernel
 * refuses `mount -o remount,ro` while the daemon holds its database open for writing.
 *
 * - a running member whose file system turns read-only keeps serving and lists every member,
 *   logs its failed writes once, refuses to claim a join token saying why (the joiner read
 *   "Internal server error"), stops saying so when restarted on it (it printed `EROFS:
 *   read-only file system, open '…/daemon.pid.PID.new'`), and once the file system is repaired
 *   starts, writes what it owes, admits the join it refused, and its database is intact;
 * - `init --bootstrap` and `init --token` on a member whose file system turned read-only fail
 *   saying so and leave no member behind in any roster;
 * - a member whose file system fails seconds after its bootstrap (what it wrote still in the
 *   page cache: an operating-system crash does the same) starts once repaired, with its cluster
 *   (it left a `daemon.json` of zeros, renamed into place unsynced).
 *
 * Needs root (mount, losetup); registered through `faultTest`, so it skips visibly where it
 * cannot run.
 */
import { createClient } from "@libsql/client";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as assert from "uvu/assert";
import {
  bootstrap,
  daemonArgs,
  daemonsLastLines,
  eventually,
  isClean,
  issueToken,
  join_,
  logLines,
  type Member,
  members,
  newMember,
  run,
  sql,
  startMember,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { exitOf, lastLines, startDaemonProcess } from "../helpers/process.ts";
import { suite } from "../helpers/suite.ts";
import { forget, onExit } from "./cleanup.ts";
import { faultTest } from "./suite.ts";
import { sh } from "./system.ts";

/** The members of the test under way, for its failure report. */
let current: Member[] = [];
const test = suite(
  "a member's file system turns read-only",
  {},
  () => `daemons' last lines:\n${daemonsLastLines(current, 40)}`,
);

/** What a member whose file system is read-only tells a client (the CLI prints it after "Error: "). */
const READ_ONLY =
  /Cannot write to the member's disk: the file system of its state directory is read-only/;

test.before.each(() => void (current = []));

/** An ext4 file system of its own under a member's state directory. */
interface Ext4 {
  /** Breaks it as an I/O error does: ext4 remounts it read-only. */
  fail(): void;
  /** Unmounts it, repairs it with `e2fsck` and mounts it again, writable (the daemon stopped). */
  repair(): void;
  /** Unmounts it and removes its image. */
  remove(): void;
}

/** Mounts a new 32 MB ext4 file system (`errors=remount-ro`) on `dir`, an empty directory. */
function ext4(dir: string): Ext4 {
  const image = `${dir}.ext4`;
  // A loop device of our own for each mount, detached at each unmount: `mount -o loop` could
  // reuse the device of the mount before, still attached, whose cache e2fsck bypassed (the file
  // system then came back read-only once in four runs).
  let device = "";
  const mount = () => {
    const loop = sh("losetup", ["--find", "--show", image]);
    assert.ok(loop.ok, `losetup ${image}: ${loop.err}`);
    device = loop.out.trim();
    const r = sh("mount", ["-o", "errors=remount-ro", device, dir]);
    assert.ok(r.ok, `mount ${device} on ${dir}: ${r.err}`);
    sh("chmod", ["0700", dir]);
  };
  const unmount = (lazy: boolean) => {
    const r = sh("umount", lazy ? ["-l", dir] : [dir]);
    sh("losetup", ["-d", device]);
    return r;
  };
  assert.ok(sh("truncate", ["-s", "32M", image]).ok);
  const made = sh("mkfs.ext4", ["-q", "-F", image]);
  assert.ok(made.ok, `mkfs.ext4: ${made.err}`);
  const remove = () => {
    unmount(true);
    rmSync(image, { force: true });
  };
  const id = onExit(remove);
  mount();
  return {
    fail() {
      const name = device.split("/").pop();
      writeFileSync(`/sys/fs/ext4/${name}/trigger_fs_error`, "cohort fault test\n");
      assert.throws(() => writeFileSync(join(dir, "probe"), "x"), /EROFS/, "read-only now");
    },
    repair() {
      const r = unmount(false);
      assert.ok(r.ok, `umount ${dir}: ${r.err}`);
      const fsck = sh("e2fsck", ["-f", "-y", image]);
      assert.ok(fsck.ok || /FILE SYSTEM WAS MODIFIED/.test(fsck.out), `e2fsck: ${fsck.out}`);
      mount();
      const writable = sh("touch", [join(dir, "probe")]);
      assert.ok(writable.ok, `writable again: ${writable.err}\ne2fsck: ${fsck.out}`);
    },
    remove() {
      remove();
      forget(id);
    },
  };
}

/** A member whose state directory is an ext4 file system of its own, started. */
async function memberOnExt4(name: string): Promise<[Member, Ext4]> {
  const m = await newMember(name);
  current.push(m);
  const fs = ext4(m.dir);
  try {
    return [await startMember(m), fs];
  } catch (err) {
    fs.remove();
    throw err;
  }
}

/** Stops `list` and removes the file systems (before the directories are removed). */
async function teardown(list: Member[], fss: Ext4[]): Promise<void> {
  await Promise.all(list.map((m) => stop(m).catch(() => {})));
  for (const fs of fss) fs.remove();
  await stopMembers(list);
}

const names = async (m: Member) => (await members(m)).map((e) => `${e.name}:${e.status}`);

faultTest(
  test,
  "a member whose file system turns read-only keeps serving, says why, recovers once repaired",
  async () => {
    const a1 = await startMember(await newMember("a1"));
    current.push(a1);
    const [a2, fs] = await memberOnExt4("a2");
    const j = await startMember(await newMember("j"));
    current.push(j);
    const all = [a1, a2, j];
    try {
      await bootstrap(a1);
      const r = await join_(a2, await issueToken(a1, a2.name));
      assert.is(r.code, 0, r.stderr);
      await eventually("a2 storing the roster", async () => {
        const res = await sql(a2, "SELECT count(*) AS n FROM core_cluster_members");
        return res.status === 200 && res.body.metadata.results[0].rows[0][0] === 2;
      });
      fs.fail();
      await issueToken(a1, "owed"); // a token a2 must store
      await eventually(
        "a2 failing to store it",
        () => Promise.resolve(logLines(a2, /persist/).length > 0),
      );
      // A join needs a2's claim (a majority of two): a2 cannot write it, and says why.
      const token = await issueToken(a1, j.name);
      const refused = await join_(j, token);
      assert.is(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, READ_ONLY);
      assert.ok(isClean(j));
      await sleep(3000);
      assert.equal(await names(a2), ["a1:ONLINE", "a2:ONLINE"], "a2 still serving");
      assert.equal(await names(a1), ["a1:ONLINE", "a2:ONLINE"], "no half member");
      const logged = logLines(a2, /persist/);
      assert.is(logged.length, 1, `one line for a run of failures:\n${logged.join("\n")}`);
      assert.equal(logLines(a2, /internal error/), [], "no internal error");
      // Restarted on it: stops saying so, not with the file system's bare error.
      await stop(a2);
      const again = startDaemonProcess(daemonArgs(a2));
      assert.is(await exitOf(again, "the daemon on a read-only disk", 60_000), 1, lastLines(again));
      assert.match(
        again.logs(),
        /Cannot start daemon: the file system of state directory "[^"]+" is read-only/,
      );
      fs.repair();
      await startMember(a2);
      await eventually("a2 back", async () => (await names(a2)).join() === "a1:ONLINE,a2:ONLINE");
      await eventually("a2 storing what it owes", async () => {
        const res = await sql(a2, "SELECT name FROM core_token_records WHERE name = 'owed'");
        return res.status === 200 && res.body.metadata.results[0].rows.length === 1;
      });
      // The refused round released its claims: the same token admits j now.
      const joined = await join_(j, token);
      assert.is(joined.code, 0, joined.stderr);
      await stop(a2);
      const db = createClient({ url: `file:${join(a2.dir, "database", "cohort.db")}` });
      try {
        const check = await db.execute("PRAGMA integrity_check");
        assert.equal(check.rows.map((row) => row[0]), ["ok"]);
      } finally {
        db.close();
      }
    } finally {
      await teardown(all, [fs]);
    }
  },
);

faultTest(
  test,
  "init --bootstrap and init --token on a read-only file system say so, leave no member behind",
  async () => {
    const a1 = await startMember(await newMember("t1"));
    current.push(a1);
    const [b, fs] = await memberOnExt4("tb");
    try {
      await bootstrap(a1);
      fs.fail();
      const boot = await run(b, ["init", b.name, b.address, "--bootstrap"]);
      assert.is(boot.code, 1, boot.stderr);
      assert.match(boot.stderr, READ_ONLY);
      const joining = await run(b, [
        "init",
        "tb0",
        b.address,
        "--token",
        await issueToken(a1, "tb0"),
      ]);
      assert.is(joining.code, 1, joining.stderr);
      assert.match(joining.stderr, READ_ONLY);
      assert.equal(await names(a1), ["t1:ONLINE"], "no half member");
      await stop(b);
      fs.repair();
      await startMember(b);
      assert.ok(isClean(b), "uninitialised");
      const joined = await join_(b, await issueToken(a1, b.name));
      assert.is(joined.code, 0, joined.stderr);
      assert.equal(await names(a1), ["t1:ONLINE", "tb:ONLINE"]);
    } finally {
      await teardown([a1, b], [fs]);
    }
  },
);

faultTest(
  test,
  "a member whose file system fails seconds after its bootstrap starts with its cluster once repaired",
  async () => {
    const [b, fs] = await memberOnExt4("pb");
    const c = await startMember(await newMember("pc"));
    current.push(c);
    try {
      await bootstrap(b);
      const joined = await join_(c, await issueToken(b, c.name));
      assert.is(joined.code, 0, joined.stderr);
      fs.fail(); // at once: what the join committed is not written back yet
      await stop(b);
      fs.repair();
      // It read a daemon.json of zeros ("not valid JSON") and would not start; started without
      // the roster record of the member it had admitted, it refused that one's gossip (403).
      await startMember(b);
      const both = "pb:ONLINE,pc:ONLINE";
      await eventually("pb with its cluster", async () => (await names(b)).join() === both);
      await eventually("pc seeing pb back", async () => (await names(c)).join() === both);
    } finally {
      await teardown([b, c], [fs]);
    }
  },
);

test.run();
