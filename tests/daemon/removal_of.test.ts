/**
 * `removalOf` (`GET /core/internal/cluster/:name`), what a member asks the others about itself
 * before it opens after a restart, on whole members in one process: an untrusted certificate
 * learns a removal, never which names are members; a member whose name was handed on while it
 * was down learns its removal.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
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
  const token = await m1.createToken("m3", 0);
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
});

test.run();
