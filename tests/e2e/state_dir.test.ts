/**
 * End to end, with real daemon processes: the state directory. Its lock after a `kill -9`: the
 * pid in `daemon.pid` may belong to another process by the time the member restarts (pids are
 * reused, and after a reboot they start over); only a cohort daemon that took the lock keeps a
 * restart out. Its modes: a directory that exists with looser ones is tightened at start. Its
 * path's length: the control socket's path must fit a Unix socket address (107 bytes on Linux).
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { selfCommand } from "../../lib/runtime.ts";
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
  cohort,
  ENTRY,
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

/** `cohort daemon` as an unprivileged user: uid 65534 when the tests run as root, else this one. */
function unprivileged(): { command: string; args: string[] } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const self = selfCommand(ENTRY);
  return {
    command: "setpriv",
    args: [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "env",
      "HOME=/tmp",
      self.command,
      ...self.args,
    ],
  };
}

test("a state directory the daemon cannot make, write or use as a directory is refused, naming why", async () => {
  // In /tmp itself: the test runner's own temporary directory (0700) is closed to uid 65534.
  const base = unprivileged() ? mkdtempSync("/tmp/cohort-perm-") : tempDir();
  try {
    chmodSync(base, 0o755);
    const closed = join(base, "closed");
    mkdirSync(closed, { mode: 0o555 });
    chmodSync(closed, 0o555);
    // Its parent is not writable: mkdir fails.
    const a = startDaemonProcess(["--state-dir", join(closed, "m")], unprivileged());
    assert.is(await exitOf(a, "the daemon"), 2, `bad input: ${a.logs()}`);
    assert.match(
      a.logs(),
      `Cannot create state directory "${join(closed, "m")}": permission denied`,
    );
    // Made by another user (root, as after a "sudo cohort daemon"), unwritable to this one.
    const owned = join(base, "owned");
    mkdirSync(owned, { mode: 0o711 });
    mkdirSync(join(owned, "database"), { mode: 0o700 });
    if (unprivileged() === undefined) chmodSync(owned, 0o511); // as this user: no write either
    const b = startDaemonProcess(["--state-dir", owned], unprivileged());
    assert.is(await exitOf(b, "the daemon"), 2, `bad input: ${b.logs()}`);
    assert.match(b.logs(), `Cannot use state directory "${owned}": permission denied`);
    // A file where the directory should be.
    const file = join(base, "file");
    writeFileSync(file, "");
    const c = startDaemonProcess(["--state-dir", file]);
    assert.is(await exitOf(c, "the daemon"), 2, `bad input: ${c.logs()}`);
    assert.match(c.logs(), `State directory "${file}" is not a directory`);
    const d = startDaemonProcess(["--state-dir", join(file, "m")]);
    assert.is(await exitOf(d, "the daemon"), 2, `bad input: ${d.logs()}`);
    assert.match(d.logs(), `State directory "${join(file, "m")}" is not a directory`);
  } finally {
    removeDir(base);
  }
});

test("a state directory too long for its control socket is refused before anything is made, by the daemon and by the CLI", async () => {
  const base = tempDir();
  // 93 bytes: "DIR/control.socket" is 108 bytes, one more than a Unix socket's path holds.
  const dir = join(base, "d".repeat(93 - base.length - 1));
  assert.is(dir.length, 93);
  try {
    const d = startDaemonProcess(["--state-dir", dir]);
    assert.is(await exitOf(d, "the daemon"), 2, "bad input: exit code 2");
    const expected = `"${dir}/control.socket" is 108 bytes long; a Unix socket's path holds ` +
      "at most 107: use a state directory of at most 92 bytes";
    assert.match(d.logs(), expected);
    // Nothing made: no database, no socket bound at a truncated path (Node bound "contro…").
    assert.not.ok(existsSync(dir), `nothing made: ${existsSync(dir) ? readdirSync(dir) : ""}`);
    const list = await cohort(["cluster", "list", "--state-dir", dir]);
    assert.is(list.code, 2, `cluster list: ${list.stderr}`);
    assert.match(list.stderr, expected);
    // One byte shorter fits: the daemon serves its socket there.
    const fits = join(base, "d".repeat(92 - base.length - 1));
    const ok = startDaemonProcess(["--state-dir", fits]);
    try {
      await waitForSocket(fits, ok, 10_000);
      const answer = await cohort(["cluster", "list", "--state-dir", fits]);
      assert.match(
        answer.stderr,
        "Database is not yet initialized",
        `an uninitialised member answers: ${answer.stderr}`,
      );
    } finally {
      ok.child.kill("SIGKILL");
      await exitOf(ok, "the daemon").catch(() => {});
    }
  } finally {
    removeDir(base);
  }
});

test.run();
