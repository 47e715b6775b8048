/**
 * A member's suspicion timeouts scale with its local health (Lifeguard's multiplier, which
 * already scales its probe interval): a member whose own probes go unanswered, relays' nacks
 * missing, cannot tell a silent member from its own failing network, and waits that many times
 * longer before it declares anyone dead. On a lossy TCP path (30 % loss) a connection stalls
 * for seconds at a time (retransmission timeouts doubling), and an accused member's refutation
 * sat behind such stalls past the shortest timeouts: healthy members had it, the unhealthy one
 * declared it dead (scripts/faults/sim_loss.ts; issue 12's loss scenario). A healthy member
 * keeps the timeouts it had, so a hang is declared as fast as before.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Frame } from "../../lib/cluster/membership.ts";
import { resolveConfig, suspicionTimeout } from "../../gossip/config.ts";
import { createSimCluster, type SimCluster } from "../../gossip/sim.ts";
import { REFUTED_WINDOW_MS } from "../../gossip/state.ts";

const test = suite("suspicion timeouts and local health");
const lan = resolveConfig("lan");
const N = 5;
const H = 0; // the member holding the suspicion
const X = 3; // the accused
/** The longest suspicion timeout of a healthy member of N (no confirmations). */
const MAX = lan.suspicionMaxTimeoutMult *
  suspicionTimeout(lan.suspicionMult, N, lan.probeIntervalMs);

type Shape = { t?: string; pb?: { k: string; n: string }[]; st?: { k: string; n: string }[] };
const aliveOf = (f: Frame, name: string) => {
  const m = f as Shape;
  return (m.pb ?? []).some((u) => u.n === name && u.k === "alive") ||
    (m.st ?? []).some((u) => u.n === name && u.k === "alive");
};

/**
 * Forms the cluster; with `unhealthy`, H's probes go unanswered for 20 s first (acks and
 * nacks to it dropped), as a member behind a failing network sees. Then H alone is told that
 * X is suspect (a suspicion the others refute at once), and X's refutation is kept from H:
 * nothing from X, no `alive` of X. Returns when H declared X dead (ms after the accusation),
 * or `undefined` when it had not after `watchMs`.
 */
function declaredAfter(c: SimCluster, unhealthy: boolean, watchMs: number): number | undefined {
  const h = c.addresses[H];
  if (unhealthy) {
    c.net.dropWhere((_from, to, f) => to === h && ["ack", "nack"].includes((f as Shape).t ?? ""));
    c.clock.advance(20_000);
    c.net.dropWhere(undefined);
  }
  const health = c.members[H].stats().localHealth;
  assert.ok(unhealthy ? health >= 3 : health === 0, `H's local health score: ${health}`);
  let declared: number | undefined;
  const start = c.clock.now();
  c.members[H].on("member-failed", (e) => {
    if (e.member.name === c.names[X] && declared === undefined) declared = c.clock.now() - start;
  });
  const x = c.addresses[X];
  c.net.dropWhere((from, to, f) => to === h && (from === x || aliveOf(f, c.names[X])));
  const evil = c.net.endpoint("evil:1");
  const inc = c.members[X].incarnation;
  evil.send(h, { t: "gossip", f: "evil", pb: [{ k: "suspect", n: c.names[X], i: inc, by: "m1" }] });
  c.clock.runWhileNot(() => declared !== undefined, watchMs, 100);
  c.net.dropWhere(undefined);
  return declared;
}

test("a healthy member declares an accused that never refutes to it at the longest timeout, as before", () => {
  const c = createSimCluster({ size: N, seed: 41 });
  c.clock.advance(5000);
  const took = declaredAfter(c, false, 2 * MAX);
  assert.ok(took !== undefined && took >= MAX && took <= MAX + 2000, `declared after ${took} ms`);
  c.stop();
});

test("a member with poor local health waits longer: a refutation late by more than the longest timeout still lands", () => {
  const c = createSimCluster({ size: N, seed: 41 });
  c.clock.advance(5000);
  // X's refutation is kept from H for 1.5 times the longest timeout of a healthy member.
  const took = declaredAfter(c, true, 1.5 * MAX);
  assert.is(took, undefined, `H declared ${c.names[X]} dead after ${took} ms`);
  // Once the refutation gets through, H holds X alive and never declares it dead.
  let failed = false;
  c.members[H].on("member-failed", (e) => (failed ||= e.member.name === c.names[X]));
  c.clock.advance(10 * MAX);
  assert.is(c.members[H].stateOf(c.names[X]), "alive");
  assert.not.ok(failed, "declared dead after all");
  c.stop();
});

test("a member that refuted a suspicion lately is given longer to refute the next one", () => {
  const c = createSimCluster({ size: N, seed: 42 });
  c.clock.advance(5000);
  const h = c.addresses[H];
  const evil = c.net.endpoint("evil:1");
  const accuse = () =>
    evil.send(h, {
      t: "gossip",
      f: "evil",
      pb: [{ k: "suspect", n: c.names[X], i: c.members[X].incarnation, by: "m1" }],
    });
  // A first suspicion, refuted at once.
  accuse();
  c.clock.advance(1000);
  assert.is(c.members[H].stateOf(c.names[X]), "alive", "the first suspicion was refuted");
  assert.is(c.members[H].stats().localHealth, 0);
  // A second one, whose refutation is kept from H for 1.5 times the longest timeout.
  let declared: number | undefined;
  const start = c.clock.now();
  c.members[H].on("member-failed", (e) => {
    if (e.member.name === c.names[X] && declared === undefined) declared = c.clock.now() - start;
  });
  const x = c.addresses[X];
  c.net.dropWhere((from, to, f) => to === h && (from === x || aliveOf(f, c.names[X])));
  accuse();
  c.clock.advance(1.5 * MAX);
  assert.is(declared, undefined, `declared after ${declared} ms`);
  c.net.dropWhere(undefined);
  c.clock.advance(10 * MAX);
  assert.is(declared, undefined, `declared after ${declared} ms`);
  assert.is(c.members[H].stateOf(c.names[X]), "alive");
  // A minute of quiet later, the timeouts are back to those of a healthy member.
  c.clock.advance(REFUTED_WINDOW_MS);
  c.net.dropWhere((from, to, f) => to === h && (from === x || aliveOf(f, c.names[X])));
  const again = c.clock.now();
  let took: number | undefined;
  c.members[H].on("member-failed", (e) => {
    if (e.member.name === c.names[X] && took === undefined) took = c.clock.now() - again;
  });
  accuse();
  c.clock.runWhileNot(() => took !== undefined, 2 * MAX, 100);
  c.net.dropWhere(undefined);
  assert.ok(took !== undefined && took >= MAX && took <= MAX + 2000, `declared after ${took} ms`);
  c.stop();
});

test.run();
