/**
 * An idle member wakes up only for what it has to do: gossip rounds run while updates are
 * queued and stop once every update has been sent its retransmit limit (issue 15: idle CPU per
 * member; a round timer firing 5 times a second with nothing to send cost more wake-ups than
 * every other timer together). Seeded simulations in simulated time; the engine's timers are
 * counted through the clock they are injected with (message deliveries are not timers).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig } from "../../gossip/config.ts";
import { createSimCluster, type SimCluster } from "../../gossip/sim.ts";

const test = suite("gossip rounds while idle");

/** Counts the engine timers that fire from now on (every member's, on the shared clock). */
function countTimers(c: SimCluster): { fired: number } {
  const count = { fired: 0 };
  const set = c.clock.setTimeout.bind(c.clock);
  c.clock.setTimeout = (fn, ms) =>
    set(() => {
      count.fired++;
      fn();
    }, ms);
  return count;
}

/** Runs until no member has anything queued (every update sent its retransmit limit). */
function drain(c: SimCluster): void {
  const took = c.clock.runWhileNot(() => c.members.every((g) => g.stats().queued === 0), 60_000);
  assert.ok(took >= 0, "queues never drained");
}

test("an idle member with nothing queued fires no gossip-round timer", () => {
  const c = createSimCluster({ size: 5, seed: 3 });
  try {
    drain(c);
    const count = countTimers(c);
    const sent = c.members.map((g) => g.stats().messagesSent);
    c.clock.advance(10_000);
    assert.ok(c.members.every((g) => g.stats().queued === 0), "something was queued while idle");
    assert.ok(c.converged());
    // Per member over 10 s: 10 probe rounds, at most 10 probe timeouts (only when an ack is
    // late: none here), 1 reconnect check, at most 1 reap and 1 push-pull: 13. A regular
    // gossip round every 200 ms would add 50.
    const lan = resolveConfig("lan");
    const perMember = count.fired / c.members.length;
    assert.ok(
      perMember <= 10_000 / lan.probeIntervalMs + 3,
      `${perMember} timers per member in 10 s idle`,
    );
    // Still probing: the saved wake-ups are not the failure detector's.
    c.members.forEach((g, i) => assert.ok(g.stats().messagesSent > sent[i]));
  } finally {
    c.stop();
  }
});

test("a queued update goes out in regular rounds, which stop once it is sent", () => {
  // No immediate pushes: regular rounds (and the probes' piggybacking) carry the update.
  const c = createSimCluster({ size: 8, seed: 5, config: { immediatePush: false } });
  try {
    drain(c);
    const rounds: string[] = [];
    c.net.dropWhere((from, _to, frame) => {
      if ((frame as { t?: string }).t === "gossip") rounds.push(from);
      return false;
    });
    c.clock.advance(5_000);
    assert.equal(rounds, [], "gossip rounds sent while nothing was queued");
    c.members[0].updateMeta({ role: "spare" });
    const took = c.clock.runWhileNot(
      () => c.members.every((g) => g.member("m0")?.meta.role === "spare"),
      10_000,
    );
    assert.ok(took >= 0, "the update never reached every member");
    assert.ok(rounds.includes(c.addresses[0]), "m0 sent its update in no gossip round");
    drain(c);
    rounds.length = 0;
    const count = countTimers(c);
    c.clock.advance(10_000);
    assert.equal(rounds, [], "gossip rounds sent after the queues drained");
    const perMember = count.fired / c.members.length;
    assert.ok(perMember <= 13, `${perMember} timers per member in 10 s idle after the update`);
  } finally {
    c.stop();
  }
});

test.run();
