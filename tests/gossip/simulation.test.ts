/**
 * Deterministic simulations (seeded, simulated time) of the scenarios issue 3 names. Bounds are
 * derived from the configuration, never from wall-clock time.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig, suspicionTimeout } from "../../gossip/config.ts";
import { createSimCluster } from "../../gossip/sim.ts";
import type { SimCluster } from "../../gossip/sim.ts";
import { extensionDigest } from "../../lib/cluster/extensions.ts";

const test = suite("gossip simulation");

/** Records every `member-failed` about anyone, per observer. */
function recordFailures(c: SimCluster): string[] {
  const out: string[] = [];
  c.members.forEach((g, o) =>
    g.on("member-failed", (e) => out.push(`${c.names[o]} saw ${e.member.name} fail`))
  );
  return out;
}

/**
 * Upper bound for "every survivor declares a silent crash dead": the victim is probed by some
 * member within one full round-robin round (every survivor probes each member once per
 * N − 1 intervals, so some probe starts within (N − 1) intervals, rounded up by one for the
 * round in progress), the probe fails within one interval, the suspicion runs at most its
 * maximum, and the `dead` then spreads within a few gossip intervals.
 */
function crashBound(n: number, preset: "lan" | "local" = "lan"): { min: number; max: number } {
  const c = resolveConfig(preset);
  const min = suspicionTimeout(c.suspicionMult, n, c.probeIntervalMs);
  const firstFailure = n * c.probeIntervalMs + c.probeIntervalMs;
  return { min, max: firstFailure + c.suspicionMaxTimeoutMult * min + 10 * c.gossipIntervalMs };
}

test("a silent crash (hung or unplugged) is declared dead by all within the configured bound", () => {
  const n = 10;
  const c = createSimCluster({ size: n, seed: 11 });
  const failures = recordFailures(c);
  const victim = 4;
  // No refusal: the victim just stops answering (a partition of one), the full Lifeguard path.
  c.net.partition([c.addresses[victim]]);
  c.members[victim].stop();
  const { min, max } = crashBound(n);
  const took = c.clock.runWhileNot(() => c.allSee(victim, "dead"), max + 1, 10);
  assert.ok(took >= 0, `not everyone saw the crash within ${max} ms`);
  assert.ok(took >= min, `declared dead after ${took} ms, before the minimum suspicion ${min} ms`);
  assert.ok(failures.every((f) => f.endsWith(`${c.names[victim]} fail`)));
  c.stop();
});

test("a kill -9 (refused connections) is declared dead well before the suspicion timeout", () => {
  const n = 10;
  const c = createSimCluster({ size: n, seed: 12 });
  const failures = recordFailures(c);
  c.crash(7);
  const { min, max } = crashBound(n);
  const took = c.clock.runWhileNot(() => c.allSee(7, "dead"), max + 1, 10);
  assert.ok(took >= 0 && took <= max, `took ${took} ms (bound ${max})`);
  assert.ok(took < min, `refusal path took ${took} ms, not faster than the ${min} ms suspicion`);
  assert.is(failures.length, n - 1);
  c.stop();
});

test("a kill -9 is known to every survivor within 1 s: each holding a connection to it starts confirming at once", () => {
  // Issue 15: the refused connection was seen at once, but acted on only at the next probe.
  const n = 10;
  for (const seed of [31, 32, 33]) {
    const c = createSimCluster({ size: n, seed, network: { connections: true } });
    c.clock.advance(20_000); // every member has talked to every other
    const failures = recordFailures(c);
    c.crash(7);
    const took = c.clock.runWhileNot(() => c.allSee(7, "dead"), 60_000, 1);
    assert.ok(took >= 0 && took <= 1000, `seed ${seed}: every survivor knew after ${took} ms`);
    assert.is(failures.length, n - 1);
    c.stop();
  }
});

test("a falsely suspected (stalled) member refutes and is never declared dead", () => {
  const n = 10;
  const c = createSimCluster({ size: n, seed: 13 });
  const failures = recordFailures(c);
  let suspected = 0;
  c.members.forEach((g) => g.on("member-suspect", (e) => e.member.name === "m3" && suspected++));
  const before = c.members[3].incarnation;
  // Stalled (kill -STOP) until suspected (its turn comes within a round), then 2 s more:
  // shorter than the minimum suspicion timeout of 4 s at n = 10.
  c.net.stall(c.addresses[3]);
  c.clock.runWhileNot(() => suspected > 0, (n + 1) * resolveConfig("lan").probeIntervalMs, 10);
  assert.ok(suspected > 0, "someone should have suspected the stalled member");
  c.clock.advance(2000);
  c.net.resume(c.addresses[3]);
  const took = c.clock.runWhileNot(() => c.converged(), 30_000, 10);
  assert.ok(took >= 0, "cluster did not converge after the stall");
  c.clock.advance(30_000);
  assert.ok(c.converged());
  assert.equal(failures, []);
  assert.ok(c.members[3].incarnation > before, "the stalled member refuted");
  c.stop();
});

test("with three members, a stalled one is declared dead after the confirmed suspicion, not the maximum", () => {
  // Each survivor's accusation is the other's one confirmation (k = 1). With the `local` preset
  // an update has two copies; both once went to the suspect itself (the probe after the
  // suspicion, then a push), the other survivor never heard, and both ran the full 18 s.
  const n = 3;
  const c = resolveConfig("local");
  const min = suspicionTimeout(c.suspicionMult, n, c.probeIntervalMs);
  // First failed probe within a round and an interval, the confirmed timeout, spreading.
  const bound = n * c.probeIntervalMs + c.probeIntervalMs + min + 10 * c.gossipIntervalMs;
  assert.ok(bound < c.suspicionMaxTimeoutMult * min, "the bound must exclude the maximum");
  const slow: string[] = [];
  for (let seed = 1; seed <= 60; seed++) {
    const sim = createSimCluster({ size: n, seed, preset: "local" });
    sim.clock.advance(seed * 37 % 1000); // stall at different phases of the probe rounds
    sim.net.stall(sim.addresses[2]);
    const took = sim.clock.runWhileNot(() => sim.allSee(2, "dead"), 30_000, 10);
    if (took < 0 || took > bound) slow.push(`seed ${seed}: ${took} ms`);
    sim.stop();
  }
  assert.equal(slow, [], `bound ${bound} ms`);
});

test("a partition of a third of the members heals and converges", () => {
  const n = 15;
  const c = createSimCluster({
    size: n,
    seed: 14,
    config: { reconnectIntervalMs: 5000, pushPullIntervalMs: 10_000 },
  });
  const third = c.addresses.slice(0, 5);
  c.net.partition(third);
  const { max } = crashBound(n);
  // Each side declares the other dead. The minority's members reach few relays (the others are
  // across the cut and silent), so they doubt themselves (Lifeguard's local health) and probe
  // up to `awarenessMaxMultiplier` times slower: their side takes longer.
  const split = () =>
    c.allSee(0, "dead", [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]) &&
    c.allSee(14, "dead", [0, 1, 2, 3, 4]);
  const slowest = resolveConfig("lan").awarenessMaxMultiplier * max;
  assert.ok(c.clock.runWhileNot(split, slowest, 100) >= 0, "the sides did not split");
  c.net.heal();
  const took = c.clock.runWhileNot(() => c.converged(), 180_000, 100);
  assert.ok(took >= 0, "the partition did not heal within 180 s of simulated time");
  c.stop();
});

test("a healed partition is one view again within one push-pull interval (issue 12's bound)", () => {
  // A third cut off for 30 s (everyone on each side declares the other dead), then the heal at
  // different phases of the timers: back to one view before the first periodic push-pull
  // could even run. Frames from a member held dead revive it at once; otherwise the reconnect
  // tick (a third of the push-pull interval) finds it.
  const slow: string[] = [];
  for (const preset of ["lan", "local"] as const) {
    const bound = resolveConfig(preset).pushPullIntervalMs;
    for (const n of [5, 10]) {
      for (let seed = 1; seed <= 12; seed++) {
        const c = createSimCluster({ size: n, seed: 100 + seed, preset });
        c.clock.advance(seed * 173 % 5000);
        const cut = Math.max(1, Math.round(n / 3));
        c.net.partition(c.addresses.slice(0, cut));
        c.clock.advance(30_000);
        assert.ok(c.allSee(0, "dead", c.running().slice(cut)), `${preset} ${n} ${seed}: not split`);
        c.net.heal();
        const took = c.clock.runWhileNot(() => c.converged(), bound, 50);
        if (took < 0) slow.push(`${preset}, ${n} members, seed ${seed}`);
        c.stop();
      }
    }
  }
  assert.equal(slow, [], "not one view within one push-pull interval of the heal");
});

test("a graceful leave is `left` everywhere and never `dead`", async () => {
  const n = 10;
  const c = createSimCluster({ size: n, seed: 15 });
  const failures = recordFailures(c);
  const done = c.members[2].leave();
  c.clock.advance(1000);
  await done;
  const took = c.clock.runWhileNot(() => c.allSee(2, "left"), 5000, 5);
  assert.ok(took >= 0, "not everyone saw the leave");
  c.clock.advance(60_000);
  assert.ok(c.allSee(2, "left"));
  assert.equal(failures, []);
  c.stop();
});

test("a member that rejoins with a higher incarnation wins, even after a crash", async () => {
  const n = 10;
  const c = createSimCluster({ size: n, seed: 16 });
  await (async () => {
    const done = c.members[5].leave();
    c.clock.advance(1000);
    await done;
  })();
  c.clock.runWhileNot(() => c.allSee(5, "left"), 5000, 5);
  const old = c.members[0].member("m5")!.incarnation;
  c.crash(5); // the address is free again
  c.restart(5, old + 10);
  const took = c.clock.runWhileNot(() => c.converged(), 10_000, 5);
  assert.ok(took >= 0, "the rejoin did not converge");
  for (const o of c.running()) {
    if (o !== 5) assert.is(c.members[o].member("m5")!.incarnation, old + 10);
  }
  // A crash, then a restart that forgot its incarnation: it refutes its own `dead` record.
  c.crash(6);
  c.clock.runWhileNot(() => c.allSee(6, "dead"), 60_000, 10);
  const dead = c.members[0].member("m6")!.incarnation;
  c.restart(6);
  assert.ok(c.clock.runWhileNot(() => c.converged(), 10_000, 5) >= 0);
  assert.ok(c.members[0].member("m6")!.incarnation > dead);
  c.stop();
});

for (const held of ["dead", "suspect"] as const) {
  test(`a member restarted with its incarnation forgotten refutes a ${held} record several incarnations ahead in one step`, () => {
    // Issue 15 (crash matrix, issue 11): after 6 metadata changes and a kill -9, the restarted
    // member refuted the others' record one incarnation per push-pull (~46 s UNREACHABLE).
    // Twelve changes: more steps than a peer answers push-pulls in 10 s.
    const n = 10;
    const c = createSimCluster({ size: n, seed: 21 });
    const victim = 6;
    for (let v = 1; v <= 12; v++) {
      c.members[victim].updateMeta({ appVersion: `1.0.${v}` });
      c.clock.advance(300);
    }
    assert.ok(c.clock.runWhileNot(() => c.allSee(victim, "alive"), 10_000, 10) >= 0);
    assert.is(c.members[0].member("m6")!.incarnation, 12);
    if (held === "dead") {
      c.crash(victim);
      assert.ok(c.clock.runWhileNot(() => c.allSee(victim, "dead"), 60_000, 10) >= 0);
    } else {
      // Stalled until suspected everywhere, then restarted before the suspicion ends.
      c.net.partition([c.addresses[victim]]);
      c.members[victim].stop();
      assert.ok(c.clock.runWhileNot(() => c.allSee(victim, "suspect"), 60_000, 10) >= 0);
      c.clock.advance(1500); // its last claims are no longer gossiped
      assert.ok(c.allSee(victim, "suspect"));
      c.crash(victim);
      c.net.heal();
    }
    c.restart(victim); // incarnation 0: the daemon does not persist it
    const cfg = resolveConfig("lan");
    // The join's push-pull hands it the record, its refutation spreads by gossip.
    const bound = 10 * cfg.gossipIntervalMs;
    const took = c.clock.runWhileNot(
      () => c.allSee(victim, "alive"),
      5 * cfg.pushPullIntervalMs,
      10,
    );
    assert.ok(took >= 0 && took <= bound, `alive everywhere after ${took} ms (bound ${bound} ms)`);
    // One step past the highest incarnation it had signed, not more.
    assert.is(c.members[victim].incarnation, 13);
    for (const o of c.running()) {
      if (o !== victim) assert.is(c.members[o].member("m6")!.incarnation, 13);
    }
    c.stop();
  });
}

test("an extension-list change reaches every member, the full list fetched by digest", () => {
  const n = 10;
  const base = ["internal:runtime_extension_v1", "alpha"];
  const c = createSimCluster({
    size: n,
    seed: 17,
    meta: () => ({ extensions: base }),
    network: { frames: "json" },
  });
  const mismatches: string[] = [];
  c.members.forEach((g, o) =>
    g.on("extensions-mismatch", (e) => mismatches.push(`${o}:${e.member.name}:${e.status.verdict}`))
  );
  const next = [...base, "beta"];
  c.members[3].updateMeta({ extensions: next });
  const digest = extensionDigest(next);
  const took = c.clock.runWhileNot(
    () =>
      c.running().every((o) =>
        o === 3 || (c.members[o].member("m3")?.meta.extensions?.length === 3 &&
          c.members[o].extensionStatus("m3")?.verdict === "behind")
      ),
    10_000,
    1,
  );
  assert.ok(took >= 0, "the new list did not reach everyone");
  for (const o of c.running()) {
    if (o === 3) continue;
    const m = c.members[o].member("m3")!;
    assert.is(m.meta.extensionDigest, digest);
    assert.is(m.meta.extensionCount, 3);
    assert.equal(m.meta.extensions, next);
    assert.equal(c.members[o].extensionStatus("m3")!.comparison!.missing, ["beta"]);
  }
  // Everyone reports m3 once ("behind": we must upgrade); m3 reports everyone ("ahead").
  assert.is(mismatches.filter((m) => m.endsWith(":m3:behind")).length, n - 1);
  assert.is(mismatches.filter((m) => m.startsWith("3:") && m.endsWith(":ahead")).length, n - 1);
  assert.is(mismatches.length, 2 * (n - 1));
  assert.ok(c.members.some((g) => g.stats().listsFetched > 0));
  // From m3's side the others' lists are a prefix of its own.
  assert.is(c.members[3].extensionStatus("m0")!.verdict, "ahead");
  c.stop();
});

test("updates queued a few milliseconds apart each spread at once, not at the next tick", () => {
  const lan = resolveConfig("lan");
  // Within a burst's rounds a hop takes well under a millisecond here; the bound leaves room
  // for every round of two bursts, and stays far below one gossip interval.
  const bound = 2 * lan.pushRounds * lan.pushRoundGapMs + 10;
  assert.ok(bound < lan.gossipIntervalMs);
  for (const seed of [61, 62, 63]) {
    const n = 12;
    const c = createSimCluster({ size: n, seed });
    c.clock.advance(2 * lan.gossipIntervalMs + 3); // off the tick grid, bursts long over
    const version = (v: string) => () =>
      c.running().every((i) => c.members[i].member(c.names[0])?.meta.appVersion === v);
    // As in a join: one update, then another while (or just after) the first is spreading.
    for (const [gap, v] of [[0, "2"], [35, "3"], [70, "4"]] as const) {
      c.clock.advance(gap);
      c.members[0].updateMeta({ appVersion: v });
      const took = c.clock.runWhileNot(version(v), bound, 1);
      assert.ok(took >= 0, `seed ${seed}: version ${v} not everywhere within ${bound} ms`);
    }
    c.stop();
  }
});

test("a rejoin reaches every member by gossip alone, even with the `local` preset's few copies", () => {
  const local = resolveConfig("local");
  // Far below the push-pull interval, the only other way a member that missed every copy
  // would learn it.
  const bound = 500;
  assert.ok(bound < local.pushPullIntervalMs / 10);
  for (let seed = 1; seed <= 30; seed++) {
    const n = 10;
    const c = createSimCluster({ size: n, seed, preset: "local" });
    c.crash(n - 1);
    // A member that missed every copy of the refusal-confirmed `dead` finds it by its own
    // suspicion, within the crash bound.
    c.clock.advance(crashBound(n, "local").max);
    assert.ok(c.allSee(n - 1, "dead"), `seed ${seed}: not dead everywhere`);
    c.restart(n - 1, 5);
    const took = c.clock.runWhileNot(() => c.allSee(n - 1, "alive"), bound, 5);
    assert.ok(took >= 0, `seed ${seed}: the rejoin missed a member for over ${bound} ms`);
    c.stop();
  }
});

test("a metadata change reaches every member by gossip alone, even with the `local` preset's few copies", () => {
  const local = resolveConfig("local");
  const bound = 500; // far below the push-pull interval, as above
  assert.ok(bound < local.pushPullIntervalMs / 10);
  const late: string[] = [];
  // With weight 1 (4 copies per holder at n = 10), 21 of these 300 left a member behind for
  // 10 to 14 s.
  for (let seed = 1; seed <= 300; seed++) {
    const c = createSimCluster({ size: 10, seed, preset: "local" });
    c.clock.advance(20_000 + seed * 97 % 3000);
    const version = `2.0.${seed}`;
    c.members[0].updateMeta({ appVersion: version });
    const took = c.clock.runWhileNot(
      () => c.members.every((g) => g.member("m0")?.meta.appVersion === version),
      bound,
      5,
    );
    if (took < 0) late.push(`seed ${seed}`);
    c.stop();
  }
  assert.equal(late, [], `a member missed the change for over ${bound} ms`);
});

test("10 % loss for an hour of simulated time produces no false `dead`", () => {
  const n = 12;
  const c = createSimCluster({ size: n, seed: 18 });
  const failures = recordFailures(c);
  c.net.setLoss(0.1);
  c.clock.advance(3600_000);
  assert.equal(failures, []);
  c.net.setLoss(0);
  c.clock.advance(5000);
  assert.ok(c.converged());
  c.stop();
});

test.run();
