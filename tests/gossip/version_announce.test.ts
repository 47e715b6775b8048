/**
 * A member's new versions (`updateMeta` with new schemas or extensions: an upgrade taking
 * effect) reach every member in one hop, as an admission does (gossip/dissemination.ts): the
 * members waiting in a rolling upgrade open on them (issue 15's wake-up). Other metadata changes
 * keep the epidemic. Seeded simulations in simulated time.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createSimCluster, type SimCluster } from "../../gossip/sim.ts";

const test = suite("gossip: new versions are announced");

const N = 60;
/** One-way latency: a hop is 40 ms, an epidemic over 60 members takes several. */
const HOP_MS = 40;
const UPGRADER = 5;

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
