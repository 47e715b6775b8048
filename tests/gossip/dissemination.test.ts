/**
 * Dissemination of an admission (gossip/dissemination.ts): the admitting member announces the
 * join to every member in one hop, instead of an epidemic's several, and the epidemic still
 * reaches whoever the announcement missed. A member's new versions (`updateMeta` with new
 * schemas or extensions: an upgrade taking effect) are announced the same way, so the members
 * waiting in a rolling upgrade open on them (issue 15's wake-up); other metadata changes keep
 * the epidemic. The members that take in an announcement pass it on in their regular rounds,
 * not in an immediate burst: every live member got it already. Seeded simulations in simulated
 * time.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig } from "../../gossip/config.ts";
import type { Frame } from "../../lib/cluster/transport.ts";
import { createSimCluster, simAddress, type SimCluster } from "../../gossip/sim.ts";

const test = suite("gossip dissemination");

const JOINER = "j";
const UPGRADER = 5;
const N = 60;
/** One-way latency: a hop is 40 ms, an epidemic over 60 members takes several. */
const HOP_MS = 40;

function cluster(seed: number): SimCluster {
  const c = createSimCluster({
    size: N,
    seed,
    form: "restore",
    tables: "own",
    network: { latencyMs: HOP_MS },
  });
  c.clock.advance(3000);
  return c;
}

/** An admission as the daemon makes it: the roster record, then the arrival, in one turn. */
function admit(c: SimCluster, by: number): void {
  c.members[by].setRecord("member", JOINER, { address: simAddress(N + 1), joining: true });
  c.members[by].admit(JOINER, { address: simAddress(N + 1) });
}

const holds = (c: SimCluster, i: number) =>
  c.members[i].stateOf(JOINER) === "alive" && c.members[i].record("member", JOINER) !== undefined;

test("an admission reaches every member in one hop, the roster record with it", () => {
  for (const seed of [1, 2, 3]) {
    const c = cluster(seed);
    admit(c, 5);
    // One hop and the turn it is handled in; an epidemic's second hop comes 40 ms later.
    c.clock.advance(HOP_MS + 1);
    const missing = c.running().filter((i) => !holds(c, i));
    assert.equal(missing, [], `seed ${seed}: not reached in one hop: ${missing.join(",")}`);
    c.stop();
  }
});

test("a member the announcement missed still gets the admission from the epidemic", () => {
  const c = cluster(4);
  const from = c.addresses[5];
  const lost = new Set([c.addresses[7], c.addresses[8]]);
  // Everything m5 sends them in the announcement's turn is lost.
  const t0 = c.clock.now();
  c.net.dropWhere((f, to) => f === from && lost.has(to) && c.clock.now() === t0);
  admit(c, 5);
  c.clock.advance(HOP_MS + 1);
  assert.not.ok(holds(c, 7));
  assert.not.ok(holds(c, 8));
  const took = c.clock.runWhileNot(() => holds(c, 7) && holds(c, 8), 2000, 1);
  assert.ok(took >= 0, "the epidemic did not reach the members the announcement missed");
  c.stop();
});

/** A frame as the engine sent it (the memory network carries objects or text). */
function messageOf(
  frame: Frame,
): { t?: string; pb?: { k: string; n?: string; r?: { key?: string } }[] } {
  return (typeof frame === "string" ? JSON.parse(frame) : frame) as ReturnType<typeof messageOf>;
}

/** Whether a message carries an update about `name` (its state, or its roster record). */
const carries = (frame: Frame, name: string) =>
  (messageOf(frame).pb ?? []).some((u) => u.n === name || u.r?.key === name);

test("members that took in an announcement pass it on in their rounds, not in a burst", () => {
  const interval = resolveConfig("lan").gossipIntervalMs;
  for (const seed of [1, 2, 3]) {
    const c = cluster(seed);
    const by = c.addresses[5];
    const t0 = c.clock.now();
    // Gossip messages carrying the join, sent by members other than the admitting one, by when.
    const sent: number[] = [];
    c.net.dropWhere((from, _to, frame) => {
      if (from !== by && messageOf(frame).t === "gossip" && carries(frame, JOINER)) {
        sent.push(c.clock.now() - t0);
      }
      return false;
    });
    admit(c, 5);
    c.clock.advance(HOP_MS + 1);
    assert.equal(c.running().filter((i) => !holds(c, i)), [], `seed ${seed}: not in one hop`);
    c.clock.advance(3000);
    // Before: a burst of 4 rounds × 3 members from each of the 59 receivers within 100 ms.
    const early = sent.filter((ms) => ms < HOP_MS + interval);
    assert.is(early.length, 0, `seed ${seed}: pushed on at once ${early.length} times`);
    // The rounds still pass it on: every receiver, its full count (a gossip message each).
    assert.ok(sent.length >= N, `seed ${seed}: only ${sent.length} gossip messages passed it on`);
    c.stop();
  }
});

test("a member told of its own suspicion in an announcement refutes it at once", () => {
  const c = cluster(5);
  const accused = 7;
  const name = c.names[accused];
  const inc = c.members[accused].incarnation;
  const t0 = c.clock.now();
  const refuted: number[] = [];
  c.net.dropWhere((from, _to, frame) => {
    const msg = messageOf(frame);
    if (from === c.addresses[accused] && msg.t === "gossip" && carries(frame, name)) {
      refuted.push(c.clock.now() - t0);
    }
    return false;
  });
  // An announcement as member 5 sends one, carrying a suspicion of member 7.
  const sender = c.net.endpoint(simAddress(N + 2), c.names[5]);
  sender.send(c.addresses[accused], {
    t: "gossip",
    f: c.names[5],
    pb: [{ k: "suspect", n: name, i: inc, by: c.names[5] }],
    a: true,
  });
  c.clock.advance(HOP_MS + 1);
  assert.ok(c.members[accused].incarnation > inc, "no refutation");
  assert.ok(refuted.length > 0 && refuted[0] <= HOP_MS + 1, `pushed at ${refuted[0]} ms`);
  c.stop();
});

/** The running members whose view of the upgrader lacks `has`. */
function missing(c: SimCluster, has: (meta: Record<string, unknown>) => boolean): number[] {
  const name = c.names[UPGRADER];
  return c.running().filter((i) =>
    i !== UPGRADER && !has((c.members[i].member(name)?.meta ?? {}) as Record<string, unknown>)
  );
}

test("new versions reach every member in one hop", () => {
  for (const seed of [1, 2, 3]) {
    const c = cluster(seed);
    c.members[UPGRADER].updateMeta({ schemaExternal: 7, extensions: ["a", "b", "round2"] });
    // One hop and the turn it is handled in; an epidemic's second hop comes 40 ms later.
    c.clock.advance(HOP_MS + 1);
    const behind = missing(c, (m) => m.schemaExternal === 7);
    assert.equal(behind, [], `seed ${seed}: not reached in one hop: ${behind.join(",")}`);
    c.stop();
  }
});

test("new versions reach every member in one hop while the others' own news is still queued", () => {
  for (const seed of [1, 2, 3]) {
    const c = cluster(seed);
    // Every other member's change reaches the upgrader by the epidemic and stays queued there to
    // be passed on (as a restarted member holds the states its push-pulls brought).
    for (const i of c.running()) {
      if (i !== UPGRADER) c.members[i].updateMeta({ appVersion: "2.0.0" });
    }
    c.clock.advance(3 * HOP_MS);
    c.members[UPGRADER].updateMeta({ schemaExternal: 7, extensions: ["a", "b", "round2"] });
    c.clock.advance(HOP_MS + 1);
    const behind = missing(c, (m) => m.schemaExternal === 7);
    assert.equal(behind, [], `seed ${seed}: not reached in one hop: ${behind.join(",")}`);
    c.stop();
  }
});

test("a change of app version only still spreads by the epidemic, and reaches everyone", () => {
  const c = cluster(4);
  c.members[UPGRADER].updateMeta({ appVersion: "9.9.9" });
  c.clock.advance(HOP_MS + 1);
  const behind = missing(c, (m) => m.appVersion === "9.9.9");
  assert.ok(behind.length > 0, "an app version change went to every member in one hop");
  const took = c.clock.runWhileNot(
    () => missing(c, (m) => m.appVersion === "9.9.9").length === 0,
    5000,
    1,
  );
  assert.ok(took >= 0, "the epidemic did not reach every member");
  c.stop();
});

test.run();
