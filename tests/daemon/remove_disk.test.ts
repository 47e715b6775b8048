/**
 * A removal whose remover's disk fails it, on whole members in one process (a simulated clock):
 * a removal checks that this member's store takes a sync before the departing member is asked
 * (which cannot be taken back), so a read-only or failing disk refuses it and nothing changes;
 * once the departing member has left, a tombstone this member cannot store answers 507 saying
 * the member was removed (the other members have it), not that all went well. With real daemons
 * on a file system that fails, see `tests/faults/disk_readonly.fault.ts`.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { DiskError, NoSpaceError } from "../../lib/errors.ts";
import { toStoreError } from "../../lib/store/errors.ts";
import { MemoryCluster, networkOf } from "../helpers/memory_member.ts";
import { rejection } from "../store/helpers.ts";

const test = suite<{ sim: MemoryCluster }>("a removal on a failing disk");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(21);
});

test.after.each(async ({ sim }) => {
  await sim.stop();
});

const names = async (d: Daemon) => (await d.clusterMembers()).map((e) => e.name).sort();

test("a remover whose store refuses a sync refuses the removal, nothing changed", async ({ sim }) => {
  const [m1, m2, m3] = await sim.form(3);
  await sim.run(2000);
  const persistence = networkOf(m1).persistence;
  persistence.sync = () =>
    Promise.reject(
      Object.assign(new Error("EROFS: read-only file system, fsync"), { code: "EROFS" }),
    );
  for (const force of [false, true]) {
    const err = await rejection(sim.drive(m1.removeMember("m3", force)));
    assert.instance(err, DiskError, String(err));
    assert.match(
      (err as Error).message,
      /^Cannot remove "m3": nothing changed: cannot write to this member's disk: the file system of its state directory is read-only .*, or run it on another member$/,
    );
  }
  await sim.run(2000);
  for (const d of [m1, m2, m3]) assert.equal(await names(d), ["m1", "m2", "m3"]);
});

test("a tombstone the remover cannot store answers 507: removed, not stored yet", async ({ sim }) => {
  const [m1, m2] = await sim.form(3);
  await sim.run(2000);
  const persistence = networkOf(m1).persistence;
  const full = toStoreError(
    Object.assign(new Error("SQLITE_FULL: database or disk is full"), { code: "SQLITE_FULL" }),
    "Save replicated records",
  );
  persistence.flushDurably = () => Promise.reject(full);
  const err = await rejection(sim.drive(m1.removeMember("m3", false)));
  assert.instance(err, NoSpaceError, String(err));
  assert.match(
    (err as Error).message,
    /^Member "m3" was removed, but this member could not store its removal yet \(it retries\): no space left on this member's disk/,
  );
  await sim.run(3000);
  for (const d of [m1, m2]) assert.equal(await names(d), ["m1", "m2"], "removed all the same");
});

test.run();
