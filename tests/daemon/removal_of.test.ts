/**
 * `removalOf` (`GET /core/internal/cluster/:name`), what a member asks the others about itself
 * before it opens after a restart, on whole members in one process: an untrusted certificate
 * learns only its own removal, never which names are members, were removed or changed hands;
 * a member whose name was handed on while it was down learns its removal, and so does one that
 * asks a member restarted since its removal.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { ForbiddenError } from "../../lib/errors.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

interface Ctx {
  sim: MemoryCluster;
}

const test = suite<Ctx>("removalOf");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(11);
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

/** A fingerprint no member's certificate has. */
const STRANGER = "ab".repeat(32);

function refused(fn: () => unknown, what: string): void {
  try {
    const answer = fn();
    assert.unreachable(`${what}: answered ${JSON.stringify(answer)}`);
  } catch (err) {
    if (!(err instanceof ForbiddenError)) throw err;
  }
}

test("an untrusted certificate is told the same of a member's name and of a name nobody holds", async ({ sim }) => {
  const [m1] = await sim.form(3);
  await sim.run(2000);
  refused(() => m1.removalOf("m2", STRANGER), "a member's name");
  refused(() => m1.removalOf("nobody", STRANGER), "a name nobody holds");
  const own = (await m1.clusterMembers()).find((e) => e.name === "m2")!;
  assert.equal(m1.removalOf("m2", own.fingerprint), { removed: false }, "a member asks");
});

test("a member whose name was handed on while it was down is told it was removed", async ({ sim }) => {
  const [m1, , m3] = await sim.form(3);
  await sim.run(2000);
  const old = (await m1.clusterMembers()).find((e) => e.name === "m3")!;
  await sim.drive(m3.stop());
  await sim.drive(m1.removeMember("m3", true));
  await sim.run(2000);
  const tombstone = m1.removalOf("m3", old.fingerprint);
  assert.is(tombstone.removed, true, "the tombstone");
  // The name joins again with a new certificate: its admission states the removal it follows.
  const next = await sim.start("m3");
  const token = await sim.drive(m1.createToken("m3", 0));
  await sim.drive(
    next.initialize({ bootstrap: false, name: "m3", address: memberAddress(3), join_token: token }),
  );
  await sim.run(2000);
  const now = (await m1.clusterMembers()).find((e) => e.name === "m3")!;
  assert.is.not(now.fingerprint, old.fingerprint);
  const answer = m1.removalOf("m3", old.fingerprint);
  assert.is(answer.removed, true, "the removed incarnation learns its removal");
  assert.ok(answer.version! > tombstone.version!, "dated after its own record");
  assert.equal(m1.removalOf("m3", now.fingerprint), { removed: false }, "the new one is a member");
  refused(() => m1.removalOf("m3", STRANGER), "a name handed on, asked by another certificate");
});

/**
 * m1 bootstraps and admits m2 and m3; m2's state directory and database are `dir`, on disk
 * (the others' stores are in memory), so that it can restart from them.
 */
async function formWithDisk(sim: MemoryCluster, dir: string): Promise<Daemon[]> {
  const daemons = [
    await sim.start("m1"),
    await sim.start("m2", { stateDir: dir, databaseUrl: undefined }),
    await sim.start("m3"),
  ];
  await sim.drive(
    daemons[0].initialize({ bootstrap: true, name: "m1", address: memberAddress(1) }),
  );
  for (const i of [2, 3]) {
    const token = await sim.drive(daemons[0].createToken(`m${i}`, 0));
    await sim.drive(
      daemons[i - 1].initialize({
        bootstrap: false,
        name: `m${i}`,
        address: memberAddress(i),
        join_token: token,
      }),
    );
  }
  return daemons;
}

test("a removed name is answered to any other certificate as one nobody holds, and to the removed one after a restart", async ({ sim }) => {
  const dir = mkdtempSync(join(tmpdir(), "cohort-removal-of-"));
  try {
    const [m1, m2, m3] = await formWithDisk(sim, dir);
    await sim.run(2000);
    const old = (await m1.clusterMembers()).find((e) => e.name === "m3")!;
    await sim.drive(m3.stop());
    await sim.drive(m1.removeMember("m3", true));
    await sim.run(2000);
    for (const name of ["m3", "m1", "nobody"]) {
      refused(() => m2.removalOf(name, STRANGER), `"${name}", asked by another certificate`);
    }
    const told = m2.removalOf("m3", old.fingerprint);
    assert.is(told.removed, true, "the removed certificate learns its removal");
    refused(() => m2.removalOf("m1", old.fingerprint), "another name, asked by the removed one");
    // m2 restarts from its store: it still knows whose certificate left "m3".
    await sim.drive(m2.stop());
    const again = await sim.start("m2", { stateDir: dir, databaseUrl: undefined });
    assert.ok(await sim.until(() => again.status() === "online", 30_000), "m2 is back");
    assert.equal(again.removalOf("m3", old.fingerprint), told, "told again after the restart");
    refused(() => again.removalOf("m3", STRANGER), "and to nobody else");
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
