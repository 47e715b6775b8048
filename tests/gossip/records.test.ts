/**
 * Replicated records in deterministic simulations (seeded, simulated time): spread, concurrent
 * writes, tombstones, anti-entropy after a partition, expiry, malformed input, events and
 * restore. Bounds are derived from the configuration, never from wall-clock time.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { pushPullScale, resolveConfig, retransmitLimit } from "../../gossip/config.ts";
import { createGossip } from "../../gossip/engine.ts";
import { simTrust } from "../../gossip/sim_trust.ts";
import { MemoryNetwork } from "../../gossip/memory_transport.ts";
import { createRandom } from "../../gossip/random.ts";
import { createSimCluster } from "../../gossip/sim.ts";
import type { SimCluster } from "../../gossip/sim.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import { compareRecords } from "../../lib/cluster/replicated_record.ts";
import type { RecordChangeEvent, ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { InvalidInputError } from "../../lib/errors.ts";
import { silentLogger } from "../../lib/log.ts";
import { memoryLogger } from "../net/_helpers.ts";

const test = suite("gossip replicated records");
const lan = resolveConfig("lan");

/**
 * Bound for "every member has a new record": each holder forwards it within one gossip
 * interval (at once by an immediate push, or at the next round) and an epidemic with fan-out
 * `gossipNodes` is over in fewer rounds than an update's retransmit limit.
 */
const spreadBound = (n: number) =>
  retransmitLimit(lan.retransmitMult, n) * lan.gossipIntervalMs +
  lan.pushRounds * lan.pushRoundGapMs;

/**
 * Bound for "a member that missed every broadcast converges": it push-pulls a random live
 * member once per scaled interval (first tick within one interval), then spreads nothing new.
 */
const antiEntropyBound = (n: number) => pushPullScale(lan.pushPullIntervalMs, n) + 1000;

/** Members (running, by index) whose `kind/key` record satisfies `pred`. */
function holders(
  c: SimCluster,
  kind: string,
  key: string,
  pred: (r: ReplicatedRecord | undefined) => boolean,
): number[] {
  return c.running().filter((i) => pred(c.members[i].record(kind, key)));
}

const everyone = (c: SimCluster, kind: string, key: string, want: ReplicatedRecord) => () =>
  holders(c, kind, key, (r) => r !== undefined && compareRecords(r, want) === 0).length ===
    c.running().length;

/** Counts `record-change` events per member index. */
function countEvents(c: SimCluster): { counts: number[]; events: RecordChangeEvent[][] } {
  const counts = c.members.map(() => 0);
  const events: RecordChangeEvent[][] = c.members.map(() => []);
  c.members.forEach((g, i) =>
    g.on("record-change", (e) => {
      counts[i]++;
      events[i].push(e);
    })
  );
  return { counts, events };
}

test("a record set on one member reaches all 50 members", () => {
  const n = 50;
  const c = createSimCluster({ size: n, seed: 21 });
  const written = c.members[17].setRecord("token", "t1", { name: "joiner", hash: "ab".repeat(32) });
  assert.is(written.origin, "m17");
  assert.ok(written.version >= Math.floor(c.clock.now()));
  const took = c.clock.runWhileNot(everyone(c, "token", "t1", written), spreadBound(n), 10);
  assert.ok(took >= 0, `not every member had the record within ${spreadBound(n)} ms`);
  assert.equal(c.members[3].records("token"), [written]);
  c.stop();
});

test("a record larger than the message budget still spreads, on dedicated messages", () => {
  const n = 20;
  const c = createSimCluster({ size: n, seed: 22 });
  const pem = "-----BEGIN CERTIFICATE-----\n" + "A".repeat(2000) + "\n-----END CERTIFICATE-----";
  const written = c.members[0].setRecord("member", "m0", { certificate: pem });
  assert.ok(JSON.stringify(written).length > lan.maxMessageBytes);
  const took = c.clock.runWhileNot(everyone(c, "member", "m0", written), spreadBound(n), 10);
  assert.ok(took >= 0, `not every member had the large record within ${spreadBound(n)} ms`);
  c.stop();
});

test("concurrent writes of one key converge to the same winner everywhere", () => {
  const n = 30;
  const c = createSimCluster({ size: n, seed: 23 });
  // Same simulated instant: equal versions, so the higher origin ("m3" > "m29" > "m17") wins.
  const writes = [17, 3, 29].map((i) => c.members[i].setRecord("cfg", "k", `from m${i}`));
  assert.ok(writes.every((w) => w.version === writes[0].version));
  const winner = writes.reduce((a, b) => (compareRecords(a, b) >= 0 ? a : b));
  assert.is(winner.origin, "m3");
  const bound = spreadBound(n) + antiEntropyBound(n);
  assert.ok(c.clock.runWhileNot(everyone(c, "cfg", "k", winner), bound, 10) >= 0);
  // On a tie a tombstone beats a value, whatever the origins.
  c.clock.advance(5);
  const tie = [c.members[1].setRecord("cfg", "k", null), c.members[25].setRecord("cfg", "k", 1)];
  assert.is(tie[0].version, tie[1].version);
  assert.ok(c.clock.runWhileNot(everyone(c, "cfg", "k", tie[0]), bound, 10) >= 0);
  // A later write wins over everything before it, and supersedes what its writer saw.
  c.clock.advance(5);
  const later = c.members[2].setRecord("cfg", "k", "final");
  assert.ok(later.version > tie[0].version);
  assert.ok(c.clock.runWhileNot(everyone(c, "cfg", "k", later), bound, 10) >= 0);
  c.stop();
});

test("a tombstone (consumption) supersedes the record everywhere and cannot be undone", () => {
  const n = 20;
  const c = createSimCluster({ size: n, seed: 24 });
  const expiresAt = Math.ceil(c.clock.now()) + 3_600_000;
  const token = c.members[0].setRecord("token", "h1", { name: "x" }, { expiresAt });
  assert.ok(c.clock.runWhileNot(everyone(c, "token", "h1", token), spreadBound(n), 10) >= 0);
  const used = c.members[9].setRecord("token", "h1", null);
  assert.is(used.value, null);
  assert.is(used.expiresAt, expiresAt, "a tombstone lives as long as the record it replaces");
  assert.ok(used.version > token.version);
  assert.ok(c.clock.runWhileNot(everyone(c, "token", "h1", used), spreadBound(n), 10) >= 0);
  // A stale copy of the token arriving late (gossip or push-pull) does not resurrect it.
  const spy = c.net.endpoint("10.9.9.9:1");
  const replies: { rc?: ReplicatedRecord[] }[] = [];
  spy.listen({
    message: (_from, f) => replies.push(f as { rc?: ReplicatedRecord[] }),
    refused() {},
  });
  spy.send(c.addresses[5], { t: "gossip", f: "spy", pb: [{ k: "rec", r: token }] });
  spy.send(c.addresses[6], { t: "pp", f: "spy", s: 1, st: [], rc: [token] });
  c.clock.advance(10);
  assert.equal(c.members[5].record("token", "h1"), used);
  assert.equal(c.members[6].record("token", "h1"), used);
  assert.equal(replies.map((r) => r.rc), [[used]], "the push-pull answer carries the tombstone");
  c.stop();
});

test("a member partitioned during a write converges by push-pull after the partition heals", () => {
  for (const pushPull of [true, false]) {
    const n = 20;
    const config = pushPull ? {} : { pushPullIntervalMs: 0 };
    const c = createSimCluster({ size: n, seed: 25, config });
    const isolated = 7;
    c.net.partition([c.addresses[isolated]]);
    const written = c.members[0].setRecord("removed", "m12", null);
    // Long enough for every broadcast to run out of retransmissions, shorter than the minimum
    // suspicion timeout, so nobody is declared dead meanwhile.
    c.clock.advance(3 * spreadBound(n));
    const others = c.running().filter((i) => i !== isolated);
    const has = (i: number) => c.members[i].record("removed", "m12") !== undefined;
    assert.ok(others.every(has), "the reachable members all have it");
    assert.not.ok(has(isolated));
    c.net.heal();
    const took = c.clock.runWhileNot(() => has(isolated), antiEntropyBound(n), 10);
    if (pushPull) {
      assert.ok(took >= 0, `no convergence within ${antiEntropyBound(n)} ms`);
      assert.equal(c.members[isolated].record("removed", "m12"), written);
    } else {
      // The control: without push-pull, the exhausted broadcasts never reach it.
      assert.is(took, -1);
    }
    c.stop();
  }
});

test("a joiner receives every record in its first push-pull", () => {
  const n = 10;
  const c = createSimCluster({ size: n, seed: 26 });
  const written = ["a", "b", "c"].map((k, i) => c.members[i].setRecord("token", k, { i }));
  c.clock.advance(spreadBound(n));
  c.crash(9);
  c.clock.advance(lan.probeIntervalMs);
  const g = c.restart(9, 5);
  assert.equal(g.records("token"), []);
  c.clock.advance(10); // one round trip on the simulated network
  const got = g.records("token").sort((x, y) => x.key.localeCompare(y.key));
  assert.equal(got, written);
  c.stop();
});

test("expired records are dropped everywhere, tombstones too", () => {
  const n = 20;
  const c = createSimCluster({ size: n, seed: 27 });
  const now = Math.ceil(c.clock.now());
  const short = c.members[0].setRecord("token", "short", { n: 1 }, { expiresAt: now + 5000 });
  c.members[1].setRecord("token", "long", { n: 2 }, { expiresAt: now + 3_600_000 });
  c.clock.advance(spreadBound(n));
  const used = c.members[2].setRecord("token", "short", null);
  assert.is(used.expiresAt, short.expiresAt, "the tombstone inherits the expiry it supersedes");
  c.clock.advance(spreadBound(n));
  assert.ok(c.running().every((i) => c.members[i].record("token", "short")?.value === null));
  assert.ok(c.running().every((i) => c.members[i].records("token").length === 2));
  c.clock.advance(now + 5000 - c.clock.now());
  // Reads hide an expired record at once; the purge frees it within one reap interval.
  assert.ok(c.running().every((i) => c.members[i].record("token", "short") === undefined));
  c.clock.advance(lan.reapIntervalMs + 1);
  assert.ok(c.running().every((i) => c.members[i].stats().records === 1));
  // An expired record arriving late is dropped, not stored again.
  const events = countEvents(c);
  const spy = c.net.endpoint("10.9.9.9:1");
  spy.send(c.addresses[4], { t: "gossip", f: "spy", pb: [{ k: "rec", r: short }] });
  c.clock.advance(10);
  assert.is(c.members[4].stats().records, 1);
  assert.is(events.counts[4], 0);
  c.stop();
});

test("a lifetime dates the expiry from the record's own version, raised or not", () => {
  const c = createSimCluster({ size: 2, seed: 29 });
  const g = c.members[0];
  const first = g.setRecord("token", "t", { n: 1 }, { lifetimeMs: 5000.5 });
  assert.is(first.expiresAt, first.version + 5001, "whole ms, rounded up");
  // Held at a version ahead of the clock (a writer whose clock runs ahead): the rewrite's version
  // is raised above it, and its expiry follows the version, not the clock.
  const ahead = first.version + 60_000;
  c.net.endpoint("10.9.9.9:1").send(c.addresses[0], {
    t: "gossip",
    f: "spy",
    pb: [{ k: "rec", r: { ...first, value: { n: 2 }, version: ahead, origin: "spy" } }],
  });
  c.clock.advance(10);
  const tomb = g.setRecord("token", "t", null, { lifetimeMs: 5000 });
  assert.is(tomb.version, ahead);
  assert.is(tomb.expiresAt, ahead + 5000);
  assert.throws(
    () => g.setRecord("token", "u", { n: 3 }, { lifetimeMs: NaN }),
    (e: unknown) => e instanceof InvalidInputError,
  );
  c.stop();
});

test("malformed records are logged and dropped alone; bad local writes throw", () => {
  const { logger, lines } = memoryLogger();
  const c = createSimCluster({ size: 10, seed: 28, logger });
  const good = { kind: "token", key: "ok", value: [1, "two"], version: 5, origin: "spy" };
  const bad: unknown[] = [
    null,
    "text",
    { ...good, kind: "" },
    { ...good, key: "k".repeat(257) },
    { ...good, version: -1 },
    { ...good, version: 1.5 },
    { ...good, origin: 3 },
    { ...good, expiresAt: "soon" },
    { ...good, value: "v".repeat(5000) },
    { ...good, extra: true },
    { kind: "token", key: "nov", version: 1, origin: "spy" },
  ];
  const spy = c.net.endpoint("10.9.9.9:1");
  const pb = [...bad.map((r) => ({ k: "rec", r })), { k: "rec", r: good }];
  spy.send(c.addresses[1], { t: "gossip", f: "spy", pb });
  spy.send(c.addresses[2], JSON.stringify({ t: "pp", f: "spy", s: 1, st: [], rc: bad }));
  c.clock.advance(spreadBound(10));
  assert.is(c.members[1].stats().recordsDropped, bad.length);
  assert.is(c.members[2].stats().recordsDropped, bad.length);
  assert.is(c.members[1].stats().malformedDropped, 0, "the frame itself was fine");
  assert.ok(c.running().every((i) => c.members[i].record("token", "ok") !== undefined));
  assert.ok(c.running().every((i) => c.members[i].records("token").length === 1));
  const warned = lines.filter((l) => l.msg === "Dropping a malformed replicated record");
  assert.is(warned.length, 2, "one line per member per 10 s, not one per record");
  const g = c.members[0];
  const invalid = [
    () => g.setRecord("", "k", 1),
    () => g.setRecord("kind", "", 1),
    () => g.setRecord("k".repeat(65), "k", 1),
    () => g.setRecord("kind", "k", "x".repeat(5000)),
    () => g.setRecord("kind", "k", NaN),
    () => g.setRecord("kind", "k", { when: new Date() } as unknown as Record<string, unknown>),
    () => g.setRecord("kind", "k", { f: () => 1 } as unknown as Record<string, unknown>),
    () => g.setRecord("kind", "k", 1, { expiresAt: -5 }),
  ];
  for (const write of invalid) assert.throws(write, (e: unknown) => e instanceof InvalidInputError);
  assert.equal(g.records("kind"), []);
  c.stop();
});

test("a record received again changes nothing; a copy that differs in any way is not one", () => {
  const c = createSimCluster({ size: 5, seed: 31 });
  const events = countEvents(c);
  const spy = c.net.endpoint("10.9.9.8:1");
  const record = {
    kind: "token",
    key: "t",
    value: { a: [1, "two", { b: null }] },
    version: 7,
    origin: "spy",
  };
  // As the wire hands it over: a fresh object for every frame.
  const send = (r: unknown) =>
    spy.send(c.addresses[2], JSON.stringify({ t: "gossip", f: "spy", pb: [{ k: "rec", r }] }));
  send(record);
  c.clock.advance(10);
  const g = c.members[2];
  const queued = g.stats().queued;
  for (let i = 0; i < 5; i++) send(record);
  c.clock.advance(10);
  assert.is(events.counts[2], 1);
  assert.is(g.stats().queued, queued, "nothing queued again");
  assert.is(g.stats().recordsDropped, 0);
  assert.is(g.stats().recordsRefused, 0);
  // Equal but for an unknown field: malformed, dropped, never taken for the record held.
  send({ ...record, extra: true });
  // Equal but for one element: the same version from a misbehaving writer, ordered by its JSON
  // text as before (this one's is larger, so it wins).
  send({ ...record, value: { a: [2, "two", { b: null }] } });
  c.clock.advance(10);
  assert.is(g.stats().recordsDropped, 1);
  assert.is(events.counts[2], 2);
  assert.equal(g.record("token", "t")?.value, { a: [2, "two", { b: null }] });
  send(record); // orders below the record held now
  c.clock.advance(10);
  assert.is(events.counts[2], 2);
  c.stop();
});

test("record-change fires once per actual change on every member", () => {
  const n = 20;
  const c = createSimCluster({ size: n, seed: 29 });
  const { counts, events } = countEvents(c);
  const first = c.members[4].setRecord("token", "t", { v: 1 });
  c.clock.advance(spreadBound(n));
  assert.equal(counts, Array(n).fill(1));
  assert.ok(events.every((e) => e[0].previous === undefined && e[0].record === first));
  // Re-deliveries (push-pulls, retransmissions, a replayed frame) change nothing.
  c.clock.advance(2 * pushPullScale(lan.pushPullIntervalMs, n));
  assert.equal(counts, Array(n).fill(1));
  c.clock.advance(5);
  const second = c.members[11].setRecord("token", "t", { v: 2 });
  c.clock.advance(spreadBound(n));
  assert.equal(counts, Array(n).fill(2));
  assert.ok(events.every((e) => e[1].previous === first && e[1].record === second));
  c.stop();
});

test("records restored from init are served without events or gossip", () => {
  const clock = new SimClock(1_000_000);
  const net = new MemoryNetwork({ clock, random: createRandom(30) });
  const r1 = { kind: "member", key: "m9", value: null, version: 900_000, origin: "m1" };
  const older = { ...r1, value: { address: "x" }, version: 800_000 };
  const expired = { kind: "token", key: "old", value: 1, version: 1, origin: "m1", expiresAt: 5 };
  const malformed = { kind: "", key: "k", value: 1, version: 1, origin: "m1" };
  const make = (name: string, records?: ReplicatedRecord[]) =>
    createGossip(
      {
        clock,
        random: createRandom(name.length),
        logger: silentLogger,
        transport: net.endpoint(name, name),
        trust: simTrust(),
      },
      { name, records },
    );
  const a = make("a", [older, r1, expired, malformed as ReplicatedRecord]);
  assert.equal(a.record("member", "m9"), r1);
  assert.is(a.record("token", "old"), undefined);
  assert.is(a.stats().records, 1);
  assert.is(a.stats().queued, 0, "restored records are not gossiped");
  const b = make("b");
  const seen: RecordChangeEvent[] = [];
  b.on("record-change", (e) => seen.push(e));
  a.start();
  b.start();
  void b.join(["a"]);
  clock.advance(10);
  assert.equal(b.record("member", "m9"), r1);
  assert.is(seen.length, 1);
  a.stop();
  b.stop();
});

test("the records digest push-pull compares changes when a record is stored and again when one expires", () => {
  const n = 3;
  const c = createSimCluster({ size: n, seed: 71, config: { pushPullIntervalMs: 0 } });
  c.clock.advance(spreadBound(n) * 3);
  /** The `rh` of member 0's next digest exchange. */
  const rh = () => {
    let seen: string | undefined;
    const send = c.net.send;
    c.net.send = function (from, to, frame) {
      const f = frame as { t?: string; r?: boolean; rh?: string } | undefined;
      if (f?.t === "pp" && from.address === c.addresses[0] && !f.r) seen ??= f.rh;
      return send.call(this, from, to, frame);
    };
    try {
      c.members[0].sync([c.addresses[1]]);
      c.clock.advance(2 * lan.gossipIntervalMs);
    } finally {
      c.net.send = send;
    }
    assert.type(seen, "string");
    return seen!;
  };
  const before = rh();
  assert.is(rh(), before, "unchanged table, same digest");
  const now = Math.ceil(c.clock.now());
  c.members[0].setRecord("token", "short", { n: 1 }, { expiresAt: now + 5000 });
  const held = rh();
  assert.is.not(held, before, "a stored record changes it");
  c.clock.advance(5000);
  assert.is(rh(), before, "once the record expired, the digest is the table's without it");
  c.stop();
});

test.run();
