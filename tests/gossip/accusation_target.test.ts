/**
 * Where a gossiped `suspect` or `dead` lands (gossip/state_accusations.ts): both accusations go
 * through one resolution of their target, so each is driven through every case of it here: an
 * accusation of the member itself is refuted one step above the incarnation it holds, whatever
 * incarnation the accusation named; one of a member held at a lower incarnation accuses the
 * incarnation held; one of a name not held changes nothing.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createSimCluster } from "../../gossip/sim.ts";
import type { SimCluster } from "../../gossip/sim.ts";

const test = suite("an accusation's target");

/** A cluster of 3 and a stranger's endpoint that gossips one update to member 0. */
function accuse(kind: "suspect" | "dead"): {
  c: SimCluster;
  send: (n: string, i: number) => void;
} {
  const c = createSimCluster({ size: 3, seed: 5 });
  const stranger = c.net.endpoint("10.9.9.9:7946");
  const send = (n: string, i: number) => {
    stranger.send(c.addresses[0], { t: "gossip", f: "x", pb: [{ k: kind, n, i, by: "m2" }] });
    c.clock.advance(50);
  };
  return { c, send };
}

for (const kind of ["suspect", "dead"] as const) {
  test(`a \`${kind}\` of the member itself at any incarnation is refuted one step above its own`, () => {
    const { c, send } = accuse(kind);
    const m0 = c.members[0];
    assert.is(m0.incarnation, 0);
    send("m0", 1_000);
    assert.is(m0.incarnation, 1, "refuted at the incarnation held + 1, not the one named + 1");
    assert.is(m0.stateOf("m0"), "alive");
    c.stop();
  });

  test(`a \`${kind}\` of a member above the incarnation held accuses the incarnation held`, () => {
    const { c, send } = accuse(kind);
    const m0 = c.members[0];
    // m1 cannot refute it: it hears nothing for the moment.
    c.net.partition([c.addresses[1]]);
    send("m1", 7);
    assert.is(m0.stateOf("m1"), kind);
    assert.is(m0.member("m1")?.incarnation, 0, "the incarnation held, not the one named");
    c.stop();
  });

  test(`a \`${kind}\` of a name not held changes nothing`, () => {
    const { c, send } = accuse(kind);
    const m0 = c.members[0];
    const before = m0.members().map((m) => `${m.name}:${m.state}:${m.incarnation}`).join(",");
    send("zz", 0);
    assert.is(m0.member("zz"), undefined);
    assert.is(m0.members().map((m) => `${m.name}:${m.state}:${m.incarnation}`).join(","), before);
    c.stop();
  });
}

test.run();
