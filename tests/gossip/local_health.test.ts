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
import type { Frame } from "../../lib/cluster/transport.ts";
import { resolveConfig, suspicionTimeout } from "../../gossip/config.ts";
import { createSimCluster, type SimCluster } from "../../gossip/sim.ts";
import { REFUTED_DECAY_MS } from "../../gossip/refutations.ts";
import { createLogger } from "../../lib/log.ts";

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
 * A stranger's relay of m1's suspicion of X, at X's incarnation then, sent to H each time the
 * returned function is called.
 */
function accuser(c: SimCluster): () => void {
  const evil = c.net.endpoint("evil:1");
  return () =>
    evil.send(c.addresses[H], {
      t: "gossip",
      f: "evil",
      pb: [{ k: "suspect", n: c.names[X], i: c.members[X].incarnation, by: "m1" }],
    });
}

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
  accuser(c)();
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
  const accuse = accuser(c);
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
  c.clock.advance(2 * REFUTED_DECAY_MS);
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

/** A cluster of N whose verdicts by suspicion timeout are kept, with the timeouts they ran with. */
function withVerdicts(seed: number) {
  const verdicts: { member: string; min_ms: number; local_health: number }[] = [];
  const logger = createLogger({
    level: "info",
    write: (line) => {
      const l = JSON.parse(line);
      if (String(l.msg).startsWith("Suspect timeout reached")) verdicts.push(l);
    },
  });
  return { c: createSimCluster({ size: N, seed, logger }), verdicts };
}

/** The shortest suspicion timeout of a healthy member of N whose accused refuted nothing. */
const MIN = suspicionTimeout(lan.suspicionMult, N, lan.probeIntervalMs);

/**
 * X stalls `stalls` times, 3 s each and 4 s apart (an event loop blocked while joiners are
 * admitted: its probers suspect it, and it refutes once it runs again), stays quiet for longer
 * than one refutation counts, then stops (kill -STOP: nothing is refused). Every verdict about
 * it must run with a healthy member's timeouts, scaled by the declarer's local health alone.
 */
function stopAfterStalls(seed: number, stalls: number): void {
  const { c, verdicts } = withVerdicts(seed);
  const x = c.addresses[X];
  const name = c.names[X];
  let suspected = 0;
  c.members.forEach((g, i) => {
    if (i !== X) g.on("member-suspect", (e) => (suspected += e.member.name === name ? 1 : 0));
  });
  for (let i = 0; i < stalls; i++) {
    c.net.stall(x);
    c.clock.advance(3000);
    c.net.resume(x);
    c.clock.advance(4000);
  }
  assert.ok(suspected > 0, "X was suspected");
  assert.ok(
    c.members[X].incarnation >= stalls,
    `X refuted (incarnation ${c.members[X].incarnation})`,
  );
  assert.ok(c.allSee(X, "alive"), "every member holds X alive again");
  c.clock.advance(REFUTED_DECAY_MS + 5000);
  c.net.stall(x);
  const took = c.clock.runWhileNot(() => c.allSee(X, "dead"), 4 * MAX, 100);
  assert.ok(took >= 0, "every member holds X dead");
  const about = verdicts.filter((v) => v.member === name);
  assert.ok(about.length > 0, "declared by a suspicion timeout");
  for (const v of about) {
    // The old refutations no longer lengthen the timeouts: only local health scales them.
    assert.is(v.min_ms, MIN * (v.local_health + 1), JSON.stringify(v));
  }
  c.stop();
}

test("a member suspected once while the cluster formed, stopped later, is declared dead with a healthy member's timeouts", () => {
  stopAfterStalls(43, 1);
});

test("two stalls seconds apart count as one episode: a stop half a minute later is declared with a healthy member's timeouts", () => {
  stopAfterStalls(45, 2);
});

test("a member that refutes again and again keeps the longer timeouts", () => {
  const c = createSimCluster({ size: N, seed: 44 });
  c.clock.advance(5000);
  const h = c.addresses[H];
  const x = c.addresses[X];
  const accuse = accuser(c);
  // Suspected every 25 s for two minutes (as a member behind a lossy path is), refuted each time.
  for (let i = 0; i < 5; i++) {
    accuse();
    c.clock.advance(25_000);
    assert.is(c.members[H].stateOf(c.names[X]), "alive", `suspicion ${i + 1} refuted`);
  }
  assert.is(c.members[H].stats().localHealth, 0);
  // One more, whose refutation is kept from H for twice the longest timeout of a healthy member.
  let declared: number | undefined;
  const start = c.clock.now();
  c.members[H].on("member-failed", (e) => {
    if (e.member.name === c.names[X] && declared === undefined) declared = c.clock.now() - start;
  });
  c.net.dropWhere((from, to, f) => to === h && (from === x || aliveOf(f, c.names[X])));
  accuse();
  c.clock.advance(2 * MAX);
  assert.is(declared, undefined, `declared after ${declared} ms`);
  c.net.dropWhere(undefined);
  c.clock.advance(MAX);
  assert.is(declared, undefined, `declared after ${declared} ms`);
  assert.is(c.members[H].stateOf(c.names[X]), "alive");
  c.stop();
});

test.run();
