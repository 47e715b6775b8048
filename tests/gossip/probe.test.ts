/**
 * The prober's evidence rules, in simulation: a failed probe raises a suspicion only with proof
 * (every relay asked nacked); without it (frames lost, ours maybe) the target is probed again
 * first. Bounds come from the configuration; the network is the in-memory one.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig } from "../../gossip/config.ts";
import { createSimCluster, simAddress } from "../../gossip/sim.ts";

const test = suite("probe evidence");
const lan = resolveConfig("lan");

/** Suspicions raised by member `i` itself (failed probes not given a second chance). */
function raised(c: ReturnType<typeof createSimCluster>, i: number): number {
  const s = c.members[i].stats();
  return s.probesFailed - s.probesDoubted;
}

test("a hung member is suspected at its first failed probe: every relay nacks", () => {
  const n = 8;
  const c = createSimCluster({ size: n, seed: 31 });
  const victim = 5;
  let first = -1;
  c.members.forEach((g) =>
    g.on("member-suspect", (e) => {
      if (e.member.name === c.names[victim] && first < 0) first = c.clock.now();
    })
  );
  const start = c.clock.now();
  c.net.stall(c.addresses[victim]);
  // Someone probes it within a round (n − 1 intervals, plus the round under way); that probe
  // fails by the end of its interval.
  const bound = (n + 1) * lan.probeIntervalMs;
  c.clock.runWhileNot(() => first >= 0, bound, 10);
  assert.ok(first >= 0, `not suspected within ${bound} ms`);
  const doubted = c.members.reduce(
    (s, g, i) => s + (i === victim ? 0 : g.stats().probesDoubted),
    0,
  );
  assert.is(doubted, 0, "a probe of the hung member was given a second chance");
  assert.ok(first - start <= bound);
  c.stop();
});

test("a prober whose own frames are held gets no nack, probes again, and accuses nobody", () => {
  const n = 6;
  let checked = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const c = createSimCluster({ size: n, seed: 40 + seed });
    const others: string[] = [];
    c.members.forEach((g, o) =>
      g.on(
        "member-suspect",
        (e) => e.member.name !== c.names[0] && others.push(`${o}:${e.member.name}`),
      )
    );
    c.clock.advance(seed * 97 % 1000);
    // m0's traffic is held for 2.2 s (its network stalls): the probe it runs meanwhile fails,
    // its relays never hear of it, and no nack comes back.
    c.net.stall(c.addresses[0]);
    c.clock.advance(2200);
    c.net.resume(c.addresses[0]);
    c.clock.advance(5 * lan.probeIntervalMs);
    const s = c.members[0].stats();
    if (s.probesFailed > 0) {
      checked++;
      assert.ok(s.probesDoubted > 0, `seed ${seed}: the failed probe raised a suspicion`);
    }
    assert.is(raised(c, 0), 0, `seed ${seed}: m0 accused someone`);
    assert.equal(others, [], `seed ${seed}: a healthy member was suspected`);
    c.stop();
  }
  assert.ok(checked >= 8, `only ${checked} of 10 runs had a failed probe`);
});

test("a probe that fails while its target talks to the prober raises no suspicion", () => {
  // An admitted joiner that listens but does not answer yet (its engine is still starting),
  // and that pings the prober in the middle of the prober's probe of it: the probe began
  // before it could answer, and the member is running. (Seen when a joiner started during a
  // probe of it: suspected a few hundred ms after it first spoke.)
  const c = createSimCluster({ size: 3, seed: 12 });
  const JOINER = "j";
  const address = simAddress(200);
  const joiner = c.net.endpoint(address, JOINER);
  joiner.listen({ message: () => {}, refused: () => {} });
  const suspected: { by: number; at: number }[] = [];
  c.members.forEach((g, i) =>
    g.on(
      "member-suspect",
      (e) => e.member.name === JOINER && suspected.push({ by: i, at: c.clock.now() }),
    )
  );
  let probe: { by: number; at: number } | undefined;
  c.net.dropWhere((from, to, frame) => {
    const f = frame as { t?: string; n?: string };
    if (!probe && to === address && f.t === "ping" && f.n === JOINER) {
      const by = c.addresses.indexOf(from);
      probe = { by, at: c.clock.now() };
      // It speaks to the prober before the probe timeout: a ping of its own.
      c.clock.setTimeout(
        () => joiner.send(from, { t: "ping", f: JOINER, s: 1, n: c.names[by] }),
        lan.probeTimeoutMs / 2,
      );
    }
    return false;
  });
  c.members[0].admit(JOINER, {
    address,
    fingerprint: "ab".repeat(32),
    role: "PENDING",
    extensions: [],
  });
  c.clock.runWhileNot(() => probe !== undefined, 10_000);
  assert.ok(probe, "nobody probed the joiner");
  c.clock.advance(lan.probeIntervalMs + 10);
  assert.equal(suspected.filter((s) => s.by === probe!.by), [], "suspected by its prober");
  // Silent from then on: a later probe proves it, and it is suspected.
  const took = c.clock.runWhileNot(() => suspected.some((s) => s.by === probe!.by), 10_000);
  assert.ok(took >= 0, "a silent member was never suspected by its prober");
  c.stop();
});

test("10 % frame loss for an hour: fewer than one suspicion per 20 member-hours, no false `dead`", () => {
  // Before the second direct ping, the relays' second ping and the second chance, this cluster
  // raised about 48 suspicions per member-hour (each then refuted by its target).
  const n = 20;
  const c = createSimCluster({ size: n, seed: 77 });
  c.net.setLoss(0.1);
  const failed: string[] = [];
  c.members.forEach((g) => g.on("member-failed", (e) => failed.push(e.member.name)));
  const before = c.members.map((_, i) => raised(c, i));
  const failedBefore = c.members.reduce((s, g) => s + g.stats().probesFailed, 0);
  c.clock.advance(3600_000);
  const suspicions = c.members.reduce((s, _, i) => s + raised(c, i) - before[i], 0);
  const failedProbes = c.members.reduce((s, g) => s + g.stats().probesFailed, 0) - failedBefore;
  assert.ok(failedProbes > 0, "no probe failed: is the loss on?");
  assert.ok(suspicions < n / 20, `${suspicions} suspicions raised (${failedProbes} failed probes)`);
  assert.equal(failed, []);
  c.stop();
});

test.run();
