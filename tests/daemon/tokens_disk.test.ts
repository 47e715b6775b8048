/**
 * Join tokens on a member whose store refuses writes, on whole members in one process (a
 * simulated clock; SQLite's own refusal, as on a read-only or failing disk).
 * `tokens add` answered the token while only the other members stored it (a cluster of one lost
 * it at a restart): it is refused (507) and withdrawn, so no member holds a live token nobody was
 * given, and issued again once it writes again. A revocation spreads whatever the disk does and
 * says when this member did not store it, then stores it once it writes again. A read-only disk is
 * played with real daemons in `tests/faults/disk_readonly.fault.ts`.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { DiskError } from "../../lib/errors.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";
import { rejection } from "../store/helpers.ts";

const test = suite<{ sim: MemoryCluster }>("join tokens on a member whose store refuses writes");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(17);
});

test.after.each(async ({ sim }) => {
  await sim.stop();
});

/**
 * Makes `d`'s store refuse every write as a read-only or failing disk does (`SQLITE_READONLY`,
 * through its connection's `query_only`); `false` writes again.
 */
async function refuseWrites(d: Daemon, refuse = true): Promise<void> {
  await d.sql(`PRAGMA query_only = ${refuse ? "ON" : "OFF"}`);
}

const tokenNames = async (d: Daemon) => (await d.listTokens()).map((t) => t.name);

test("tokens add on a store that refuses writes is refused and withdrawn everywhere; issued once it writes again", async ({ sim }) => {
  const [m1, m2] = await sim.form(2);
  await sim.run(2000);
  await refuseWrites(m1);
  const err = await rejection(sim.drive(m1.createToken("m3", 0)));
  assert.instance(err, DiskError, String(err));
  assert.match(
    String(err),
    /Cannot issue a join token for "m3": it was withdrawn: cannot write to this member's disk/,
  );
  await sim.run(3000);
  for (const d of [m1, m2]) assert.equal(await tokenNames(d), [], "no live token for m3");
  await refuseWrites(m1, false);
  const token = await sim.drive(m1.createToken("m3", 0));
  const m3 = await sim.start("m3");
  await sim.drive(m3.initialize({
    bootstrap: false,
    name: "m3",
    address: memberAddress(3),
    join_token: token,
  }));
  assert.equal((await m2.clusterMembers()).map((e) => e.name).sort(), ["m1", "m2", "m3"]);
});

test("a revocation on a store that refuses writes spreads, says it is not stored here, is stored once it writes again", async ({ sim }) => {
  const [m1, m2] = await sim.form(2);
  const token = await sim.drive(m1.createToken("m3", 0));
  await sim.run(2000);
  const stored = async () => {
    const r = await m1.sql("SELECT count(*) AS n FROM core_token_records");
    return Number((r.rows[0] as Record<string, unknown>).n);
  };
  assert.is(await stored(), 1);
  await refuseWrites(m1);
  const err = await rejection(sim.drive(m1.revokeToken("m3")));
  assert.instance(err, DiskError, String(err));
  assert.match(String(err), /was revoked, but this member could not store its revocation yet/);
  await sim.run(3000);
  for (const d of [m1, m2]) assert.equal(await tokenNames(d), [], "revoked everywhere");
  const m3 = await sim.start("m3");
  const refused = await rejection(sim.drive(m3.initialize({
    bootstrap: false,
    name: "m3",
    address: memberAddress(3),
    join_token: token,
  })));
  assert.match(String(refused), /Join token was already used or has been revoked/);
  assert.is(await stored(), 1, "the store still lists the token");
  await refuseWrites(m1, false);
  await sim.run(3000);
  assert.is(await stored(), 0, "the revocation stored once it writes again");
});

test.run();
