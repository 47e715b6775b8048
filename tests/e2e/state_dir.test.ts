/**
 * End to end, with real daemon processes: the state directory. Its lock after a `kill -9`: the
 * pid in `daemon.pid` may belong to another process by the time the member restarts (pids are
 * reused, and after a reboot they start over); only a cohort daemon that took the lock keeps a
 * restart out. Its modes: a directory that exists with looser ones is tightened at start.
 */
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  bootstrap,
  eventually,
  isClean,
  kill,
  type Member,
  members,
  newMember,
  startMember,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import {
  exitOf,
  removeDir,
  spawnTracked,
  startDaemonProcess,
  tempDir,
  waitForSocket,
} from "../helpers/process.ts";

const test = suite("state directory");

test("a member killed with SIGKILL restarts although its recorded pid now belongs to an unrelated process", async () => {
  const m: Member = await newMember("l1");
  const other = spawnTracked("sleep", ["60"], { stdio: "ignore" });
  try {
    await startMember(m);
    await bootstrap(m);
    await kill(m);
    // As after a reboot or a pid wrap-around: the killed daemon's pid is now `sleep`'s.
    const lock = join(m.dir, "daemon.pid");
    const [, ...rest] = readFileSync(lock, "utf8").split("\n");
    writeFileSync(lock, [String(other.pid), ...rest].join("\n"));
    await startMember(m);
    assert.not.ok(isClean(m), "the member is still initialised");
    // The socket answers first; the member serves its cluster once started.
    await eventually("l1 to list itself", async () => (await members(m)).length === 1);
    assert.equal((await members(m)).map((e) => e.name), ["l1"]);
    assert.is(readFileSync(lock, "utf8").split("\n")[0], String(m.daemon!.child.pid));
  } finally {
    other.kill("SIGKILL");
    await stopMembers([m]);
  }
});

test("a second daemon on a running member's state directory is refused, naming the holder", async () => {
  const m: Member = await newMember("l2");
  try {
    await startMember(m);
    const second = startDaemonProcess(["--state-dir", m.dir]);
    const code = await exitOf(second, "the second daemon");
    assert.is.not(code, 0);
    assert.match(second.logs(), `in use by another cohort daemon (pid ${m.daemon!.child.pid})`);
    // The first one still serves.
    await waitForSocket(m.dir, m.daemon, 5000);
    await stop(m);
  } finally {
    await stopMembers([m]);
  }
});

test("a daemon started on a state directory made with mode 0755 tightens it to 0711, its database folder to 0700", async () => {
  const m: Member = await newMember("s1");
  try {
    mkdirSync(join(m.dir, "database"));
    chmodSync(m.dir, 0o755);
    chmodSync(join(m.dir, "database"), 0o755);
    await startMember(m);
    assert.is(statSync(m.dir).mode & 0o777, 0o711);
    assert.is(statSync(join(m.dir, "database")).mode & 0o777, 0o700);
  } finally {
    await stopMembers([m]);
  }
});

test("a daemon refuses a state directory shared with other users (sticky bit, as /tmp)", async () => {
  const dir = tempDir();
  try {
    chmodSync(dir, 0o1777);
    const d = startDaemonProcess(["--state-dir", dir]);
    assert.is(await exitOf(d, "the daemon"), 2, "bad input: exit code 2");
    assert.match(d.logs(), "is shared with other users (mode 01777): use a directory of its own");
    assert.is(statSync(dir).mode & 0o7777, 0o1777);
  } finally {
    removeDir(dir);
  }
});

test.run();
