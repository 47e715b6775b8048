/**
 * A name removed and admitted again with a new certificate before every member forgot the
 * removed one (an operator's retry loop, a machine replaced; met with daemons in
 * tests/e2e/concurrent_rejoin.test.ts). A member still holding the former identity's `left`
 * must list the new member alive: the new member's claims are signed with a key the former
 * entry never had, so it cannot out-bid that entry by incarnation, and an entry about a former
 * identity must not outrank it. Simulated on cohort's roster trust (real certificates and
 * roster records), seeded: the same steps every run.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { rosterTrust } from "../../lib/cluster/roster_trust.ts";
import { silentLogger } from "../../lib/log.ts";
import { type Gossip, startingMeta } from "../../gossip/api.ts";
import { createGossip } from "../../gossip/engine.ts";
import { createRandom } from "../../gossip/random.ts";
import { claimPayload } from "../../gossip/claims.ts";
import { normalizeMeta } from "../../gossip/member_extensions.ts";
import { simAddress } from "../../gossip/sim.ts";
import { toWireMeta } from "../../gossip/wire_meta.ts";
import { keyPair } from "../net/_helpers.ts";
import { createRosterCluster, type RosterCluster, signWith } from "./roster_fixture.ts";

const test = suite("a name admitted again with a new certificate");

/**
 * A cluster of 3 whose member m2 left (every other member holds its `left`); then m1, in one
 * turn (no reap in between), removes m2 and admits a new member under the name: the roster
 * records of the removal and the admission, and the admission's `alive` (as the daemon's join
 * flow does). Returns the cluster and the new certificate's fingerprint.
 */
async function readmitted(): Promise<{ c: RosterCluster; fingerprint: string }> {
  const c = await createRosterCluster(3, { seed: 11 });
  void c.members[2].leave();
  const left = c.clock.runWhileNot(() => c.allSee(2, "left", [0, 1]), 30_000, 50);
  assert.ok(left >= 0, "m0 and m1 hold m2's leave");
  c.crash(2);
  const pair = await keyPair("m2-again");
  const m1 = c.members[1];
  const tombstone = m1.setRecord("member", "m2", null);
  m1.setRecord("member", "m2", {
    address: simAddress(2),
    certificate: pair.cert,
    fingerprint: pair.fingerprint,
    joinedAt: tombstone.version + 1,
    joining: true,
  });
  m1.admit("m2", { address: simAddress(2), fingerprint: pair.fingerprint });
  return { c, fingerprint: pair.fingerprint };
}

/** Whether `c`'s member `o` holds m2 alive with certificate `fingerprint`. */
function holdsNew(c: RosterCluster, o: number, fingerprint: string): boolean {
  const m = c.members[o].member("m2");
  return m?.state === "alive" && m.meta.fingerprint === fingerprint;
}

test("the admitting member and the others list the new member alive, over the former one's leave", async () => {
  const { c, fingerprint } = await readmitted();
  // Well within the tombstone timeout (the former entry's natural end) and the reap interval.
  const at = c.clock.runWhileNot(
    () => holdsNew(c, 1, fingerprint) && holdsNew(c, 0, fingerprint),
    5_000,
    50,
  );
  const m0 = c.members[0].member("m2");
  const m1 = c.members[1].member("m2");
  assert.ok(
    at >= 0,
    `m2 held alive with its new certificate: m0 holds ${m0?.state} at ${m0?.incarnation}, ` +
      `m1 holds ${m1?.state} at ${m1?.incarnation}`,
  );
  assert.is(c.members[0].member("m2")?.incarnation, 0, "the new member's own incarnation");
  c.stop();
});

test("the new member's claim that comes before its roster record is taken once the record is here", async () => {
  const c = await createRosterCluster(3, { seed: 11 });
  void c.members[2].leave();
  assert.ok(c.clock.runWhileNot(() => c.allSee(2, "left", [0, 1]), 30_000, 50) >= 0);
  c.crash(2);
  const pair = await keyPair("m2-again");
  // The new m2's own `alive`, signed with its new key, reaches m0 first (another path than the
  // roster record's): m0 cannot check it yet.
  const wire = toWireMeta(normalizeMeta(startingMeta(simAddress(2), {
    fingerprint: pair.fingerprint,
    extensions: [],
  })));
  const sg = signWith(pair.key, claimPayload("alive", "m2", 0, wire));
  const m0 = c.members[0];
  c.net.endpoint("10.9.9.9:7946").send(c.addresses[0], {
    t: "gossip",
    f: "x",
    pb: [{ k: "alive", n: "m2", i: 0, m: wire, sg }],
  });
  c.clock.advance(50);
  assert.is(m0.stateOf("m2"), "left", "not taken before the roster names the new certificate");
  // Then the removal and the admission arrive (written by m1, gossiped to m0).
  const m1 = c.members[1];
  const tombstone = m1.setRecord("member", "m2", null);
  m1.setRecord("member", "m2", {
    address: simAddress(2),
    certificate: pair.cert,
    fingerprint: pair.fingerprint,
    joinedAt: tombstone.version + 1,
    joining: true,
  });
  const at = c.clock.runWhileNot(() => holdsNew(c, 0, pair.fingerprint), 5_000, 50);
  assert.ok(at >= 0, `m0 holds the new m2 alive: ${m0.stateOf("m2")}`);
  c.stop();
});

/** Starts the new member under m2's name and address, with `pair`'s key, joining m1. */
function startNew(
  c: RosterCluster,
  pair: { key: string; cert: string; fingerprint: string },
): Gossip {
  const g = createGossip({
    clock: c.clock,
    random: createRandom(77),
    logger: silentLogger,
    transport: c.net.endpoint(c.addresses[2], pair.fingerprint),
    trust: rosterTrust(pair),
  }, {
    name: "m2",
    meta: { fingerprint: pair.fingerprint, extensions: [] },
    records: c.members[1].records("member"),
  });
  g.start();
  void g.join([c.addresses[1]]);
  return g;
}

for (const end of ["left", "dead"] as const) {
  test(`a member cut off while the name was given again, holding the former one ${end}, comes to list the new one, unsuspected`, async () => {
    const c = await createRosterCluster(4, { seed: 13 });
    // The former m2 leaves, or fails (kill -9): every member holds it so.
    if (end === "left") void c.members[2].leave();
    else c.crash(2);
    assert.ok(c.clock.runWhileNot(() => c.allSee(2, end), 60_000, 50) >= 0, `m2 held ${end}`);
    if (end === "left") c.crash(2);
    // m3 is cut off while m2's name is given to a new member, then comes back.
    const [a0, a1, a2, a3] = c.addresses;
    c.net.partition([a0, a1, a2], [a3]);
    const pair = await keyPair("m2-again");
    const m1 = c.members[1];
    const tombstone = m1.setRecord("member", "m2", null);
    m1.setRecord("member", "m2", {
      address: simAddress(2),
      certificate: pair.cert,
      fingerprint: pair.fingerprint,
      joinedAt: tombstone.version + 1,
      joining: true,
    });
    m1.admit("m2", { address: simAddress(2), fingerprint: pair.fingerprint });
    const m2 = startNew(c, pair);
    const joined = c.clock.runWhileNot(
      () => holdsNew(c, 0, pair.fingerprint) && holdsNew(c, 1, pair.fingerprint),
      10_000,
      50,
    );
    assert.ok(joined >= 0, "m0 and m1 hold the new m2 alive");
    assert.is(c.members[3].stateOf("m2"), end, `m3 still holds the former m2 ${end}`);
    let suspected = 0;
    c.members[0].on("member-suspect", (e) => e.member.name === "m2" && suspected++);
    c.net.heal();
    // Push-pulls with m3 (every 30 s on lan) carry what it held of the former m2.
    const back = c.clock.runWhileNot(() => holdsNew(c, 3, pair.fingerprint), 120_000, 50);
    assert.ok(back >= 0, `m3 holds the new m2 alive: ${c.members[3].stateOf("m2")}`);
    c.clock.advance(60_000);
    for (const o of [0, 1, 3]) {
      assert.ok(holdsNew(c, o, pair.fingerprint), `m${o} holds the new m2`);
    }
    assert.is(suspected, 0, "m0 never suspected the new m2 for what the former one did");
    assert.is(m2.incarnation, 0, "the new m2 had nothing to refute");
    m2.stop();
    c.stop();
  });
}

test.run();
