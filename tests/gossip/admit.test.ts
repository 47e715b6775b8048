/**
 * A member announced by the member that admitted it (`Gossip.admit`): the cluster learns of the
 * join from the admission, and a joiner that is not listening yet is never taken for a crash.
 * Seeded simulations in simulated time.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig, suspicionTimeout } from "../../gossip/config.ts";
import type { Gossip } from "../../gossip/api.ts";
import { createGossip } from "../../gossip/engine.ts";
import { simTrust } from "../../gossip/sim_trust.ts";
import { createRandom } from "../../gossip/random.ts";
import { JOINING_PROBE_FAILURES } from "../../gossip/probe.ts";
import { createSimCluster, simAddress, type SimCluster } from "../../gossip/sim.ts";
import { extensionDigest } from "../../lib/cluster/extensions.ts";
import { silentLogger } from "../../lib/log.ts";

const test = suite("gossip admission");

const JOINER = "j";
const ADDRESS = simAddress(200);
const META = {
  address: ADDRESS,
  fingerprint: "ab".repeat(32),
  role: "PENDING",
  schemaInternal: 2,
  schemaExternal: 1,
  appVersion: "1.4.0",
  extensions: ["a", "b", "c"],
};

/** Starts the joiner as a daemon does: with the admitting member's state and no seeds. */
function startJoiner(c: SimCluster, state: unknown): Gossip {
  const g = createGossip(
    {
      clock: c.clock,
      random: createRandom(99),
      logger: silentLogger,
      transport: c.net.endpoint(ADDRESS, JOINER),
      trust: simTrust(),
    },
    { name: JOINER, meta: META, state },
  );
  g.start();
  return g;
}

/** Counts `member-suspect` and `member-failed` events about the joiner, on every member. */
function watch(c: SimCluster): { suspected: number; failed: number } {
  const seen = { suspected: 0, failed: 0 };
  for (const g of c.members) {
    g.on("member-suspect", (e) => e.member.name === JOINER && seen.suspected++);
    g.on("member-failed", (e) => e.member.name === JOINER && seen.failed++);
  }
  return seen;
}

const everyoneSees = (c: SimCluster, state: string, incarnation?: number) =>
  c.members.every((g) => {
    const m = g.member(JOINER);
    return m?.state === state && (incarnation === undefined || m.incarnation === incarnation);
  });

test("an admitted member reaches every member at once, with its extension list", () => {
  const c = createSimCluster({ size: 10, seed: 31 });
  const joins: string[] = [];
  c.members.forEach((g, i) => g.on("member-join", (e) => joins.push(`${i}:${e.member.name}`)));
  const t0 = c.clock.now();
  c.members[3].admit(JOINER, META);
  const took = c.clock.runWhileNot(() => everyoneSees(c, "alive", 0), 1000, 1);
  assert.ok(took >= 0, "not every member saw the admitted member within 1 s");
  // A handful of hops, not a gossip tick (200 ms at `lan`).
  assert.ok(c.clock.now() - t0 < resolveConfig("lan").gossipIntervalMs, `took ${took} ms`);
  assert.is(joins.length, 10);
  // The admitting member holds the list itself; the others fetch it once (from the member that
  // has it, since the joiner does not listen yet).
  // The sim's members run no extension: the joiner's three are beyond them.
  assert.is(c.members[3].extensionStatus(JOINER)?.verdict, "behind");
  assert.is(c.members[3].stats().listsFetched, 0);
  const fetched = c.clock.runWhileNot(
    () => c.members.every((g) => g.extensionStatus(JOINER)?.verdict === "behind"),
    5000,
    5,
  );
  assert.ok(fetched >= 0, "the joiner's extension list did not reach every member");
  for (const g of c.members) {
    const m = g.member(JOINER)!;
    assert.equal(m.meta.extensions, META.extensions);
    assert.is(m.meta.extensionDigest, extensionDigest(META.extensions));
    assert.is(m.meta.appVersion, "1.4.0");
  }
  c.stop();
});

test("a joiner that starts as announced has nothing to refute", () => {
  const c = createSimCluster({ size: 5, seed: 32 });
  const seen = watch(c);
  c.members[0].admit(JOINER, META);
  const state = c.members[0].exportState();
  c.clock.advance(20); // the daemon's start-up after its admission
  const joiner = startJoiner(c, state);
  c.clock.advance(10_000);
  assert.is(joiner.incarnation, 0);
  assert.ok(everyoneSees(c, "alive", 0));
  assert.is(joiner.members().filter((m) => m.state === "alive").length, 6);
  assert.equal(seen, { suspected: 0, failed: 0 });
  assert.is(joiner.stats().refutations, 0);
  c.stop();
});

test("a joiner gossips none of the admitting member's records on: the cluster has them", () => {
  const c = createSimCluster({ size: 8, seed: 33 });
  for (let i = 0; i < 8; i++) c.members[i].setRecord("token", `t${i}`, { n: i });
  c.clock.advance(10_000);
  assert.ok(c.members.every((g) => g.records("token").length === 8));
  c.members[0].admit(JOINER, META);
  const state = c.members[0].exportState();
  c.clock.advance(20);
  const joiner = startJoiner(c, state);
  assert.is(joiner.records("token").length, 8, "the joiner holds every record");
  assert.is(joiner.stats().queued, 0, "nothing of the starting view is queued for gossip");
  // What it writes itself still spreads.
  joiner.setRecord("token", "mine", { n: 9 });
  const took = c.clock.runWhileNot(
    () => c.members.every((g) => g.record("token", "mine") !== undefined),
    5000,
    5,
  );
  assert.ok(took >= 0, "the joiner's own record did not spread");
  c.stop();
});

for (const size of [2, 4]) {
  test(`an admitted member not listening yet is neither dead nor suspect while it starts (n = ${size})`, () => {
    const c = createSimCluster({ size: size - 1, seed: 33 + size });
    const seen = watch(c);
    c.members[0].admit(JOINER, META);
    const state = c.members[0].exportState();
    // Long enough that every member has probed it and had the connection refused (with n = 2,
    // no relay to confirm: the prober's own refusal would be all the evidence).
    const { probeIntervalMs } = resolveConfig("lan");
    c.clock.advance(size * probeIntervalMs + 2 * probeIntervalMs);
    assert.ok(
      c.members.some((g) => g.stats().probesFailed > 0),
      "no member probed the joiner while it was not listening",
    );
    assert.is(seen.failed, 0, "a refusal from a member never heard from declared it dead");
    assert.is(seen.suspected, 0, "a member still starting was suspected");
    const joiner = startJoiner(c, state);
    const took = c.clock.runWhileNot(() => everyoneSees(c, "alive"), 10_000, 5);
    assert.ok(took >= 0, "the joiner is not alive everywhere");
    c.clock.advance(10_000);
    assert.equal(seen, { suspected: 0, failed: 0 });
    assert.is(joiner.incarnation, 0, "the joiner had something to refute");
    c.stop();
  });
}

test("an admitted member that never starts is suspected after the grace, then declared dead", () => {
  const n = 4;
  const c = createSimCluster({ size: n - 1, seed: 38 });
  const seen = watch(c);
  c.members[0].admit(JOINER, META);
  const lan = resolveConfig("lan");
  const min = suspicionTimeout(lan.suspicionMult, n, lan.probeIntervalMs);
  const grace = lan.suspicionMaxTimeoutMult * min;
  c.clock.advance(grace - lan.probeIntervalMs);
  assert.is(seen.suspected, 0, "suspected before the grace ended");
  // After the grace: the next failed probe suspects it, and the suspicion runs its course.
  const bound = n * lan.probeIntervalMs + 2 * lan.probeIntervalMs + grace +
    10 * lan.gossipIntervalMs;
  const took = c.clock.runWhileNot(() => everyoneSees(c, "dead"), bound, 10);
  assert.ok(took >= 0, `not dead everywhere within ${bound} ms after the grace`);
  assert.ok(seen.suspected > 0);
  c.stop();
});

/**
 * Admits the joiner into a cluster of `size − 1` and starts it 20 ms later, as a daemon does; it
 * runs `ranMs` (every member's probes and gossip meet it, so it is heard from), then its event
 * loop is held `stallMs` at a time, `stalls` times, `gapMs` apart (the start-up work that follows
 * a join: the view written to its store, the TLS handshakes of every member's connections).
 */
function slowStart(
  seed: number,
  size: number,
  ranMs: number,
  stalls: number,
  stallMs: number,
  gapMs = 1000,
) {
  const c = createSimCluster({ size: size - 1, seed });
  const seen = watch(c);
  c.members[0].admit(JOINER, META);
  const state = c.members[0].exportState();
  c.clock.advance(20);
  const admitted = c.clock.now();
  const joiner = startJoiner(c, state);
  c.clock.advance(ranMs);
  for (let i = 0; i < stalls; i++) {
    c.net.stall(ADDRESS);
    c.clock.advance(stallMs);
    c.net.resume(ADDRESS);
    c.clock.advance(gapMs);
  }
  const heard = c.members.filter((g) => g.member(JOINER)!.lastHeartbeat > admitted).length;
  return { c, seen, joiner, heard };
}

for (const seed of [51, 52, 58]) {
  test(`a joiner heard from, whose first seconds hold its event loop past the probe interval, is not suspected (seed ${seed})`, () => {
    const { c, seen, heard } = slowStart(seed, 25, 1500, 5, 2500);
    // Most members heard from it meanwhile: the grace of a joiner never heard from ended.
    assert.ok(heard >= 12, `only ${heard} of 24 members heard from the joiner`);
    assert.ok(
      c.members.some((g) => g.stats().probesFailed > 0),
      "no probe of the joiner failed while it was held",
    );
    c.clock.advance(10_000);
    assert.equal(seen, { suspected: 0, failed: 0 });
    c.stop();
  });
}

test("a joiner heard from that then hangs for good is still suspected and declared dead", () => {
  const n = 12;
  const { c, seen } = slowStart(54, n, 3000, 0, 0);
  c.net.stall(ADDRESS);
  const lan = resolveConfig("lan");
  const max = lan.suspicionMaxTimeoutMult *
    suspicionTimeout(lan.suspicionMult, n, lan.probeIntervalMs);
  // Every member's turn to probe it comes within a round of n probe intervals; the probes of
  // the next rounds decide; then the suspicion runs its course.
  const bound = (n + 1 + JOINING_PROBE_FAILURES) * lan.probeIntervalMs + max +
    10 * lan.gossipIntervalMs;
  const took = c.clock.runWhileNot(() => everyoneSees(c, "dead"), bound, 10);
  assert.ok(took >= 0, `not dead everywhere within ${bound} ms`);
  assert.ok(seen.suspected > 0);
  c.stop();
});

test("a member already known is not announced again", () => {
  const c = createSimCluster({ size: 3, seed: 37 });
  const before = c.members[0].member("m2")!;
  c.members[0].admit("m2", { ...META, address: simAddress(2) });
  c.members[0].admit(c.names[0], META);
  c.clock.advance(1000);
  assert.equal(c.members[0].member("m2")!.meta, before.meta);
  assert.is(c.members[1].member("m2")!.incarnation, before.incarnation);
  assert.is(c.members[0].member(JOINER), undefined);
  c.stop();
});

test.run();
