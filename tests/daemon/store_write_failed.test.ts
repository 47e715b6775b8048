/**
 * A membership change whose store write fails, on whole members in one process (a simulated
 * clock): an admission and a bootstrap answer only what their store holds. The store's batch
 * logs a failed write and keeps its rows for the next one; a flow that then told the joiner it
 * was admitted (or the operator that the cluster was made) answered for a row no disk held, where
 * a sync that failed was already refused. With real daemons on a disk that fails, see
 * `tests/faults/disk_readonly.fault.ts` and `disk_full.fault.ts`.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { NoSpaceError } from "../../lib/errors.ts";
import { ViewPersistence } from "../../lib/daemon/persistence.ts";
import { toStoreError } from "../../lib/store/errors.ts";
import { memberAddress, MemoryCluster, networkOf } from "../helpers/memory_member.ts";
import { rejection } from "../store/helpers.ts";

const test = suite<{ sim: MemoryCluster }>("a membership change whose store write fails");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(31);
});

test.after.each(async ({ sim }) => {
  await sim.stop();
});

const full = () =>
  toStoreError(
    Object.assign(new Error("SQLITE_FULL: database or disk is full"), { code: "SQLITE_FULL" }),
    "Save replicated records",
  );

const names = async (d: Daemon) => (await d.clusterMembers()).map((e) => e.name).sort();

test("an admission whose store write fails is refused and taken back: nobody lists the joiner", async ({ sim }) => {
  const [m1, m2] = await sim.form(2);
  await sim.run(2000);
  // Issued first: a token whose write fails is refused (see daemon/tokens_disk).
  const token = await sim.drive(m1.createToken("m3", 0));
  const persistence = networkOf(m1).persistence;
  const written = persistence.written.bind(persistence);
  let failing = true;
  persistence.written = () => failing ? Promise.reject(full()) : written();
  const m3 = await sim.start("m3");
  const err = await rejection(sim.drive(m3.initialize({
    bootstrap: false,
    name: "m3",
    address: memberAddress(3),
    join_token: token,
  })));
  assert.match(String(err), /no space left on/i);
  await sim.run(3000);
  for (const d of [m1, m2]) assert.equal(await names(d), ["m1", "m2"]);
  failing = false;
});

test("a bootstrap whose store write fails is refused and undone: the member stays uninitialised", async ({ sim }) => {
  const m1 = await sim.start("m1");
  // The network, and its persistence, is made by the bootstrap itself: every batch fails.
  const written = ViewPersistence.prototype.written;
  ViewPersistence.prototype.written = () => Promise.reject(full());
  let err: unknown;
  try {
    err = await rejection(
      sim.drive(m1.initialize({ bootstrap: true, name: "m1", address: memberAddress(1) })),
    );
  } finally {
    ViewPersistence.prototype.written = written;
  }
  assert.instance(err, NoSpaceError, String(err));
  await sim.drive(m1.initialize({ bootstrap: true, name: "m1", address: memberAddress(1) }));
  assert.equal(await names(m1), ["m1"], "bootstraps once the disk has room");
});

test.run();
