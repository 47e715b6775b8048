import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { tempName, tempWriter } from "../lib/temp_name.ts";

const test = suite("temporary names");

test("tempName() names a new temporary beside its target for each write, all read back as this process's", () => {
  const names = Array.from({ length: 50 }, () => tempName("/state/daemon.json"));
  assert.is(new Set(names).size, names.length, "no two writes share a temporary");
  for (const name of names) {
    assert.ok(name.startsWith("/state/daemon.json."), name);
    assert.is(tempWriter(name), process.pid, name);
  }
  // A target whose own name ends in digits is no trouble: the pid is the one after it.
  assert.is(tempWriter(tempName("/state/backup.7")), process.pid);
});

test("tempWriter() reads the writer of every spelling earlier releases left", () => {
  const earlier = [
    "daemon.json.4242.tmp",
    "daemon.json.4242.forget",
    "daemon.json.4242.respell.tmp",
    "transition.json.4242.tmp",
    "daemon.pid.4242.new",
    "daemon.pid.4242.stale",
    "server.crt.tmp-4242-kq3x9",
    "daemon.json.4242-17.tmp",
  ];
  assert.equal(earlier.map(tempWriter), earlier.map(() => 4242));
});

test("tempWriter() recognises no file that is not a temporary", () => {
  const others = [
    "daemon.json",
    "daemon.json.next", // a join's prepared commit: its flow removes it
    "servers.json.tmp", // no writer to tell alive or gone: never an own spelling
    "notes.tmp",
    "a.1.txt",
    "daemon.json.0.tmp", // no process has pid 0
    "daemon.json.99999999999999999999.tmp",
    "cohort.db-wal",
  ];
  assert.equal(others.filter((n) => tempWriter(n) !== undefined), []);
});

test.run();
