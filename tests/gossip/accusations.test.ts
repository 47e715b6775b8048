/**
 * Forged accusations at their worst, in the engine (simulated time, the in-memory transport,
 * cohort's roster trust): accusations are not signed, so a member's certificate can send
 * `dead` or `suspect` about a healthy member, in every member's name, again and again, and
 * keep them from the accused itself. What that can do is bounded (see `Accusations.dead`,
 * `gossip/state_accusations.ts`):
 * the accused hears of it through gossip, refutes one incarnation step up, and is alive
 * everywhere again within one gossip interval each time (21–41 ms here: two immediate pushes),
 * without ever being held dead by a member's own timer.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig } from "../../gossip/config.ts";
import { adversary, createRosterCluster, type RosterCluster } from "./roster_fixture.ts";

const test = suite("forged accusations (roster trust)");
const lan = resolveConfig("lan");
const N = 5;
const X = 3; // the accused

/** Sends `frame` to every member but the accused (who must hear of it through gossip). */
function toOthers(c: RosterCluster, evil: ReturnType<typeof adversary>, frame: object): void {
  c.addresses.forEach((a, i) => i !== X && evil.send(a, frame));
}

/** Whether every member but `X` holds `X` as `state`. */
const othersSee = (c: RosterCluster, state: string) =>
  c.members.every((g, i) => i === X || g.stateOf(c.names[X]) === state);

for (const kind of ["dead", "suspect"] as const) {
  test(`a forged \`${kind}\` of a healthy member, every 2 s in every member's name, never holds`, async () => {
    const c = await createRosterCluster(N, { seed: kind === "dead" ? 121 : 122 });
    const x = c.names[X];
    const evil = adversary(c, 1);
    const events = { failed: 0, suspect: 0 };
    for (const g of c.members) {
      g.on("member-failed", (e) => e.member.name === x && events.failed++);
      g.on("member-suspect", (e) => e.member.name === x && events.suspect++);
    }
    const taken = () => kind === "dead" ? events.failed : events.suspect;
    const forgeries = 10;
    const took: number[] = [];
    for (let f = 0; f < forgeries; f++) {
      const inc = c.members[X].incarnation;
      const before = taken();
      const sent = c.clock.now();
      // Every member's name as the accuser: the most confirmations a suspicion can get.
      const pb = c.names.filter((_, i) => i !== X).map((by) => ({ k: kind, n: x, i: inc, by }));
      toOthers(c, evil, { t: "gossip", f: c.names[1], pb });
      // Each of the others takes it (an event each), and the accused refutes.
      const ms = c.clock.runWhileNot(
        () => taken() >= before + N - 1 && c.allSee(X, "alive"),
        2000 - 1,
        1,
      );
      assert.ok(ms >= 0, `forgery ${f}: not taken by all, or ${x} not alive everywhere in 2 s`);
      took.push(c.clock.now() - sent);
      c.clock.advance(sent + 2000 - c.clock.now());
    }
    // Long after the last one: past the longest suspicion timeout, nobody holds x anything but
    // alive, and it refuted one step per forgery at most.
    c.clock.advance(lan.suspicionMaxTimeoutMult * lan.suspicionMult * lan.probeIntervalMs);
    assert.ok(c.allSee(X, "alive"), "alive everywhere in the end");
    assert.ok(c.members[X].incarnation <= forgeries, `incarnation ${c.members[X].incarnation}`);
    const worst = Math.max(...took);
    assert.ok(
      worst <= lan.gossipIntervalMs,
      `alive everywhere again after ${took.join(", ")} ms (bound: one gossip interval)`,
    );
    // No suspicion reached its timeout: the forged verdicts themselves were the only ones.
    assert.is(events.failed, kind === "dead" ? forgeries * (N - 1) : 0, "member-failed events");
    c.stop();
  });
}

test("a forged `dead` of a member cut off from the network holds, as an honest verdict would", async () => {
  const c = await createRosterCluster(N, { seed: 123 });
  const x = c.names[X];
  const evil = adversary(c, 1);
  const rest = c.addresses.filter((_, i) => i !== X);
  c.net.partition([...rest, evil.address], [c.addresses[X]]);
  toOthers(c, evil, {
    t: "gossip",
    f: c.names[1],
    pb: [{ k: "dead", n: x, i: c.members[X].incarnation, by: c.names[1] }],
  });
  c.clock.advance(5000);
  assert.ok(othersSee(c, "dead"), "the verdict held");
  c.net.heal();
  // Healed: it is back within a reconnect tick and a push-pull.
  const ms = c.clock.runWhileNot(
    () => c.allSee(X, "alive"),
    lan.reconnectIntervalMs + lan.pushPullIntervalMs,
    10,
  );
  assert.ok(ms >= 0, `${x} not alive again after the heal`);
  c.stop();
});

test.run();
