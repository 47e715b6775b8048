/**
 * Dissemination of an admission (gossip/dissemination.ts): the admitting member announces the
 * join to every member in one hop, instead of an epidemic's several, and the epidemic still
 * reaches whoever the announcement missed. Seeded simulations in simulated time.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createSimCluster, simAddress, type SimCluster } from "../../gossip/sim.ts";

const test = suite("gossip dissemination");

const JOINER = "j";
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

test.run();
