/**
 * Replicated records across a simulated cluster (`gossip/sim.ts`, seeded, replayable): a put
 * through the app API reaches every member, lossless and at 10 % frame loss; concurrent writes
 * of one key on many members end in one winner everywhere, the one the merge rule names; a member
 * that was down during a write gets it from the full-state exchange. Bounds are generous (this is
 * not a benchmark: `scripts/bench/records_convergence.ts` measures).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Gossip } from "../../gossip/api.ts";
import { pushPullScale, resolveConfig } from "../../gossip/config.ts";
import { createSimCluster, type SimCluster } from "../../gossip/sim.ts";
import { compareRecords } from "../../lib/cluster/replicated_record.ts";
import { UnavailableError } from "../../lib/errors.ts";
import { silentLogger } from "../../lib/log.ts";
import { APP_RECORD } from "../../lib/records/limits.ts";
import { AppRecords } from "../../lib/records/records.ts";

const test = suite("replicated records converge");
const N = 100;

/** The app API over one simulated member. */
function recordsOf(g: Gossip): AppRecords {
  return new AppRecords({
    store: () => g,
    unavailable: () => new UnavailableError("stopped"),
    flush: () => Promise.resolve(),
    name: () => g.localName,
    logger: silentLogger,
  });
}

const holders = (c: SimCluster, key: string, version: number) =>
  c.running().filter((i) => c.members[i].record(APP_RECORD, key)?.version === version).length;

for (const loss of [0, 0.1]) {
  test(`a put reaches all ${N} members at ${loss * 100} % loss`, async () => {
    const c = createSimCluster({ size: N, seed: 21, form: "restore", network: { loss } });
    try {
      c.clock.advance(3000);
      for (const origin of [0, 37, 99]) {
        const e = await recordsOf(c.members[origin]).put(`k${origin}`, { origin });
        const took = c.clock.runWhileNot(() => holders(c, e.key, e.version) === N, 60_000, 5);
        assert.ok(took >= 0, `k${origin}: ${holders(c, e.key, e.version)} of ${N} after 60 s`);
        for (const g of c.members) {
          assert.equal(recordsOf(g).get(e.key)?.value, { origin });
        }
      }
    } finally {
      c.stop();
    }
  });
}

test("concurrent writes of one key on 10 members: one winner everywhere, the merge rule's", async () => {
  const c = createSimCluster({ size: N, seed: 22, form: "restore", network: { loss: 0.1 } });
  try {
    c.clock.advance(3000);
    const writers = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38];
    const written = await Promise.all(
      writers.map((i) => recordsOf(c.members[i]).put("shared", { by: i })),
    );
    // One instant: one version, so the greater writer name wins ("m92" > "m89" > …).
    const winner = c.members[92].record(APP_RECORD, "shared")!;
    for (const i of writers) {
      const r = c.members[i].record(APP_RECORD, "shared")!;
      assert.ok(compareRecords(winner, r) >= 0);
    }
    assert.ok(written.every((e) => e.version === written[0].version));
    const agreed = () => c.members.every((g) => g.record(APP_RECORD, "shared")?.origin === "m92");
    assert.ok(c.clock.runWhileNot(agreed, 60_000, 5) >= 0, "every member holds m92's write");
  } finally {
    c.stop();
  }
});

test("a member down during a write gets it from the full-state exchange after its restart", async () => {
  const c = createSimCluster({ size: 20, seed: 23, form: "restore" });
  try {
    c.clock.advance(3000);
    c.crash(7);
    const e = await recordsOf(c.members[0]).put("while-down", true);
    c.clock.advance(10_000); // gossip's retransmissions are over
    const g = c.restart(7);
    const lan = resolveConfig("lan");
    const took = c.clock.runWhileNot(
      () => g.record(APP_RECORD, "while-down")?.version === e.version,
      pushPullScale(lan.pushPullIntervalMs, 20) + 10_000,
      10,
    );
    assert.ok(took >= 0, "the restarted member never got the record");
  } finally {
    c.stop();
  }
});

test.run();
