/**
 * End to end, with real daemon processes: the state directory's lock after a `kill -9`. The pid
 * in `daemon.pid` may belong to another process by the time the member restarts (pids are
 * reused, and after a reboot they start over); only a cohort daemon that took the lock keeps a
 * restart out.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  bootstrap,
  isClean,
  kill,
  type Member,
  members,
  newMember,
  startMember,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { spawnTracked, startDaemonProcess, waitForSocket } from "../helpers/process.ts";

const test = suite("state directory lock");

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
    const code = await second.exited;
    assert.is.not(code, 0);
    assert.match(second.logs(), `in use by another cohort daemon (pid ${m.daemon!.child.pid})`);
    // The first one still serves.
    await waitForSocket(m.dir, m.daemon, 5000);
    await stop(m);
  } finally {
    await stopMembers([m]);
  }
});

test.run();
