import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { MemberState } from "../../lib/cluster/membership.ts";
import { Awareness } from "../../gossip/awareness.ts";
import {
  PRESETS,
  pushPullScale,
  resolveConfig,
  retransmitLimit,
  suspicionTimeout,
} from "../../gossip/config.ts";
import { supersedes } from "../../gossip/members.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import { expectedConfirmations, Suspicion, suspicionDeadline } from "../../gossip/suspicion.ts";
import { InvalidInputError } from "../../lib/errors.ts";

const precedence = suite("precedence rules (supersedes)");

// [current state, current incarnation, update kind, update incarnation, expected]
const table: [MemberState | undefined, number, MemberState, number, boolean][] = [
  [undefined, 0, "alive", 0, true],
  [undefined, 0, "suspect", 5, false],
  [undefined, 0, "dead", 5, false],
  [undefined, 0, "left", 5, false],
  ["alive", 3, "alive", 3, false],
  ["alive", 3, "alive", 4, true],
  ["alive", 3, "suspect", 2, false],
  ["alive", 3, "suspect", 3, true],
  ["alive", 3, "dead", 3, true],
  ["alive", 3, "left", 3, true],
  ["suspect", 3, "suspect", 3, false], // a confirmation, handled by the suspicion timer
  ["suspect", 3, "suspect", 4, true],
  ["suspect", 3, "alive", 3, false],
  ["suspect", 3, "alive", 4, true], // refutation
  ["suspect", 3, "dead", 3, true],
  ["dead", 3, "suspect", 9, false],
  ["dead", 3, "dead", 4, false],
  ["dead", 3, "alive", 3, false],
  ["dead", 3, "alive", 4, true], // rejoin / refutation after a false death
  ["dead", 3, "left", 3, true], // a graceful leave is reported as such
  ["left", 3, "dead", 3, false], // never turn a leave into a failure
  ["left", 3, "dead", 9, false],
  ["left", 3, "left", 4, false],
  ["left", 3, "alive", 4, true],
];
for (const [state, inc, kind, uinc, want] of table) {
  precedence(`${state ?? "unknown"}@${inc} ← ${kind}@${uinc}: ${want}`, () => {
    assert.is(supersedes(state ? { state, incarnation: inc } : undefined, kind, uinc), want);
  });
}
precedence.run();

const formulas = suite("derived formulas");

formulas("suspicion timeouts match memberlist's table (reference §1.3)", () => {
  const lan = PRESETS.lan;
  const rows: [number, number, number, number][] = [
    // n, k, min, max
    [3, 0, 4000, 24000],
    [10, 2, 4000, 24000],
    [100, 2, 8000, 48000],
    [1000, 2, 12000, 72000],
  ];
  for (const [n, k, min, max] of rows) {
    const m = suspicionTimeout(lan.suspicionMult, n, lan.probeIntervalMs);
    assert.is(m, min, `min at n=${n}`);
    assert.is(lan.suspicionMaxTimeoutMult * m, max, `max at n=${n}`);
    assert.is(expectedConfirmations(lan.suspicionMult, n), k, `k at n=${n}`);
  }
  assert.is(suspicionDeadline(0, 2, 4000, 24000), 24000);
  assert.is(suspicionDeadline(1, 2, 4000, 24000), 11381);
  assert.is(suspicionDeadline(2, 2, 4000, 24000), 4000);
  assert.is(suspicionDeadline(1, 2, 12000, 72000), 34144);
  assert.is(suspicionDeadline(5, 0, 4000, 24000), 4000);
  const local = PRESETS.local;
  assert.is(suspicionTimeout(local.suspicionMult, 10, 1000), 3000);
  assert.is(expectedConfirmations(local.suspicionMult, 10), 1);
  assert.is(suspicionDeadline(1, 1, 3000, 18000), 3000);
});

formulas("retransmit limits and push-pull scaling (reference §1.4, §1.5)", () => {
  assert.equal([3, 10, 100, 1000].map((n) => retransmitLimit(4, n)), [4, 8, 12, 16]);
  assert.equal([3, 10, 100, 1000].map((n) => retransmitLimit(2, n)), [2, 4, 6, 8]);
  assert.is(pushPullScale(30000, 32), 30000);
  assert.is(pushPullScale(30000, 64), 60000);
  assert.is(pushPullScale(30000, 100), 90000);
  assert.is(pushPullScale(30000, 1000), 180000);
});

formulas("presets carry memberlist's LAN and Local values; overrides are validated", () => {
  const lan = resolveConfig();
  assert.is(lan.probeIntervalMs, 1000);
  assert.is(lan.probeTimeoutMs, 500);
  assert.is(lan.indirectChecks, 3);
  assert.is(lan.gossipIntervalMs, 200);
  assert.is(lan.pushPullIntervalMs, 30000);
  const local = resolveConfig("local");
  assert.is(local.probeTimeoutMs, 200);
  assert.is(local.indirectChecks, 1);
  assert.is(local.retransmitMult, 2);
  assert.is(resolveConfig("lan", { gossipNodes: 5 }).gossipNodes, 5);
  assert.throws(
    () => resolveConfig("lan", { probeIntervalMs: 0 }),
    (e: unknown) => e instanceof InvalidInputError,
  );
  assert.throws(
    () => resolveConfig("lan", { probeTimeoutMs: 2000 }),
    (e: unknown) => e instanceof InvalidInputError,
  );
  // deno-lint-ignore no-explicit-any
  assert.throws(() => resolveConfig("wan" as any), (e: unknown) => e instanceof InvalidInputError);
});

formulas.run();

const timer = suite("Suspicion timer and local health");

timer("starts at max and falls with independent confirmations", () => {
  const clock = new SimClock();
  let firedAt = -1;
  let confirmations = -1;
  const s = new Suspicion(clock, "a", 2, 4000, 24000, (c) => {
    firedAt = clock.now();
    confirmations = c;
  });
  assert.is(s.deadline, 24000);
  clock.advance(1000);
  assert.ok(s.confirm("b"));
  assert.not.ok(s.confirm("b"), "a repeat is not a confirmation");
  assert.not.ok(s.confirm("a"), "the first accuser does not confirm itself");
  assert.is(s.deadline, 11381);
  clock.advance(1000);
  assert.ok(s.confirm("c"));
  assert.is(s.deadline, 4000);
  assert.not.ok(s.confirm("d"), "no more than k confirmations count");
  clock.advance(1999);
  assert.is(firedAt, -1);
  clock.advance(1);
  assert.is(firedAt, 4000);
  assert.is(confirmations, 2);
});

timer("a confirmation past the new deadline fires at once; cancel stops it", () => {
  const clock = new SimClock();
  let fired = 0;
  const s = new Suspicion(clock, "a", 2, 4000, 24000, () => fired++);
  clock.advance(15000);
  s.confirm("b");
  clock.advance(0);
  assert.is(fired, 1);
  const t = new Suspicion(clock, "a", 0, 4000, 24000, () => fired++);
  assert.is(t.deadline, clock.now() + 4000);
  t.cancel();
  clock.advance(10000);
  assert.is(fired, 1);
});

timer("defer() from the timeout fires again later, never past the longest timeout", () => {
  const clock = new SimClock();
  const fired: number[] = [];
  let deferrals = 0;
  const s: Suspicion = new Suspicion(clock, "a", 0, 4000, 10000, () => {
    fired.push(clock.now());
    if (s.defer(2500)) deferrals++;
  });
  clock.advance(20000);
  // 4000, then 6500 and 9000, then 10000 (capped), where defer() refuses.
  assert.equal(fired, [4000, 6500, 9000, 10000]);
  assert.is(deferrals, 3);
  s.cancel();
});

timer("local health scales intervals and stays in range", () => {
  const a = new Awareness(8);
  assert.is(a.scale(1000), 1000);
  a.apply(3);
  assert.is(a.scale(1000), 4000);
  a.apply(100);
  assert.is(a.score, 7);
  a.apply(-100);
  assert.is(a.score, 0);
});

timer.run();
