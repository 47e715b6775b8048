/**
 * Anti-entropy in deterministic simulations: periodic push-pulls between members that agree
 * ship digests only, and members that disagree still converge through them (both directions).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { pushPullScale, resolveConfig, retransmitLimit } from "../../gossip/config.ts";
import type { PushPullMsg } from "../../gossip/messages.ts";
import { createGossip } from "../../gossip/engine.ts";
import { simSignature, simTrust } from "../../gossip/sim_trust.ts";
import { claimPayload } from "../../gossip/claims.ts";
import { MemoryNetwork } from "../../gossip/memory_transport.ts";
import { createRandom } from "../../gossip/random.ts";
import { createSimCluster, simAddress } from "../../gossip/sim.ts";
import type { SimCluster } from "../../gossip/sim.ts";
import { type Logger, silentLogger } from "../../lib/log.ts";
import type { Transport } from "../../lib/cluster/transport.ts";

const test = suite("gossip push-pull");
const lan = resolveConfig("lan");

/**
 * What `pick` makes of every frame sent on `c`'s network while `fn` runs (frames it returns
 * `undefined` for are left out).
 */
function tapFrames<T>(
  c: SimCluster,
  fn: () => void,
  pick: (from: string, to: string, frame: { t?: string; j?: boolean }) => T | undefined,
): T[] {
  const seen: T[] = [];
  const net = c.net as MemoryNetwork & { send: MemoryNetwork["send"] };
  const original = net.send;
  net.send = function (from, to, frame) {
    const got = frame ? pick(from.address, to, frame as { t?: string; j?: boolean }) : undefined;
    if (got !== undefined) seen.push(got);
    return original.call(this, from, to, frame);
  };
  try {
    fn();
  } finally {
    net.send = original;
  }
  return seen;
}

/** Every push-pull frame sent on `c`'s network while `fn` runs. */
function tapPushPulls(c: SimCluster, fn: () => void): PushPullMsg[] {
  return tapFrames(
    c,
    fn,
    (_from, _to, f) => f.t === "pp" ? f as unknown as PushPullMsg : undefined,
  );
}

/** Wire metadata of a hand-made member at `address`. */
const wireMeta = (address: string) => ({
  a: address,
  fp: "",
  r: "spare",
  si: 0,
  se: 0,
  v: "",
  ec: 0,
  ed: "",
});

/** Long enough for every broadcast to run out, shorter than the minimum suspicion timeout. */
const quiet = (n: number) =>
  3 * (retransmitLimit(lan.retransmitMult, n) * lan.gossipIntervalMs +
    lan.pushRounds * lan.pushRoundGapMs);

test("periodic push-pulls between members holding the same table carry digests, not state", () => {
  const n = 10;
  const c = createSimCluster({ size: n, seed: 41 });
  c.clock.advance(quiet(n)); // let the join broadcasts run out
  const frames = tapPushPulls(c, () => c.clock.advance(4 * lan.pushPullIntervalMs));
  assert.ok(
    frames.length >= 4 * n,
    `expected about ${8 * n} push-pull frames, saw ${frames.length}`,
  );
  const withState = frames.filter((f) => f.st !== undefined);
  assert.equal(withState, [], "no full state in a steady cluster");
  assert.ok(frames.every((f) => typeof f.sh === "string" && f.sh.length > 0));
  c.stop();
});

test("a member that missed a metadata change converges through a digest mismatch", () => {
  // How long the push-pull run took; the control (no push-pull) must not have converged by then.
  // (Later, gossip may bring the change anyway: the member that changed re-announces itself to
  // the isolated member once that one accuses it at its old incarnation.)
  let window = -1;
  for (const pushPull of [true, false]) {
    const n = 12;
    const c = createSimCluster({
      size: n,
      // A seed where no member's suspicion of the isolated one times out before the heal (then
      // it converges by the full exchange of a revival instead, not by a digest mismatch).
      seed: 47,
      config: pushPull ? {} : { pushPullIntervalMs: 0 },
    });
    const isolated = 5;
    c.net.partition([c.addresses[isolated]]);
    c.members[0].updateMeta({ appVersion: "2.0.0" });
    c.clock.advance(quiet(n));
    const version = (i: number) => c.members[i].member(c.names[0])?.meta.appVersion;
    assert.ok(c.running().filter((i) => i !== isolated).every((i) => version(i) === "2.0.0"));
    assert.is.not(version(isolated), "2.0.0");
    c.net.heal();
    const bound = pushPullScale(lan.pushPullIntervalMs, n) + 1000;
    let frames: PushPullMsg[] = [];
    let took = -1;
    frames = tapPushPulls(c, () => {
      took = c.clock.runWhileNot(
        () => version(isolated) === "2.0.0",
        pushPull ? bound : window,
        10,
      );
    });
    if (pushPull) {
      assert.ok(took >= 0, `no convergence within ${bound} ms`);
      assert.ok(frames.some((f) => f.sw === true), "a mismatch answered with state and sw");
      window = took;
    } else {
      assert.is(took, -1, `the control: without push-pull, no change within ${window} ms`);
    }
    c.stop();
  }
});

test("a digest mismatch is answered with full state and sw; a one-way push is merged silently", () => {
  const c = createSimCluster({ size: 3, seed: 43 });
  const spy = c.net.endpoint("10.9.9.9:1", "spy");
  const got: PushPullMsg[] = [];
  spy.listen({ message: (_from, f) => void got.push(f as PushPullMsg), refused() {} });
  spy.send(c.addresses[1], { t: "pp", f: "spy", s: 7, sh: "0000000000000000" });
  c.clock.advance(10);
  assert.is(got.length, 1);
  assert.is(got[0].r, true);
  assert.is(got[0].sw, true, "asks for the initiator's state");
  assert.equal(got[0].st?.map((e) => e.n).sort(), [...c.names].sort());
  const meta = wireMeta("10.9.9.8:1");
  // Another member's claim, relayed: signed by that member.
  const sg = simSignature("newbie", claimPayload("alive", "newbie", 4, meta));
  spy.send(c.addresses[1], {
    t: "pp",
    f: "spy",
    s: 7,
    o: true,
    st: [{ k: "alive", n: "newbie", i: 4, m: meta, sg }],
  });
  c.clock.advance(10);
  assert.is(c.members[1].stateOf("newbie"), "alive", "the pushed state is merged");
  assert.is(got.length, 1, "a one-way push gets no answer");
  c.stop();
});

test("an answer that comes after the exchange timed out is merged, not dropped", async () => {
  // A restarted member asks every seed at once; on a loaded machine their answers can all come
  // after the request timeout. They carry what it needs to know (e.g. who runs which versions).
  const c = createSimCluster({ size: 2, seed: 45 });
  const spy = c.net.endpoint("10.9.9.9:1", "spy");
  const asked: PushPullMsg[] = [];
  spy.listen({ message: (_from, f) => void asked.push(f as PushPullMsg), refused() {} });
  const answered = c.members[1].join(["10.9.9.9:1"]);
  c.clock.advance(10);
  assert.is(asked.filter((f) => f.t === "pp" && f.j).length, 1, "a full exchange was opened");
  c.clock.advance(lan.requestTimeoutMs);
  assert.is(await answered, 0, "the exchange timed out");
  const meta = wireMeta("10.9.9.8:1");
  const sg = simSignature("newbie", claimPayload("alive", "newbie", 4, meta));
  const open = asked.find((f) => f.t === "pp" && f.j)!;
  spy.send(c.addresses[1], {
    t: "pp",
    f: "spy",
    s: open.s,
    r: true,
    st: [{ k: "alive", n: "newbie", i: 4, m: meta, sg }],
  });
  c.clock.advance(10);
  assert.is(c.members[1].stateOf("newbie"), "alive", "the late answer's state is merged");
  c.stop();
});

test("an initiator told the tables differ pushes its full state one way", () => {
  const c = createSimCluster({ size: 2, seed: 44 });
  const spyAddress = "10.9.9.9:1";
  const spy = c.net.endpoint(spyAddress, "spy");
  const meta = wireMeta(spyAddress);
  const pushes: PushPullMsg[] = [];
  spy.listen({
    message(from, frame) {
      const f = frame as { t: string; s: number; sh?: string; o?: boolean; r?: boolean };
      // Stay alive: answer probes.
      if (f.t === "ping") spy.send(from, { t: "ack", f: "spy", s: f.s });
      if (f.t === "pp" && f.o) pushes.push(frame as PushPullMsg);
      else if (f.t === "pp" && f.sh !== undefined && !f.r) {
        spy.send(from, {
          t: "pp",
          f: "spy",
          s: f.s,
          r: true,
          sw: true,
          st: [{ k: "alive", n: "spy", i: 0, m: meta }],
        });
      }
    },
    refused() {},
  });
  // Join member 0 (a full exchange), so both members pick the spy for periodic push-pulls.
  spy.send(c.addresses[0], {
    t: "pp",
    f: "spy",
    s: 1,
    j: true,
    st: [{ k: "alive", n: "spy", i: 0, m: meta }],
  });
  c.clock.runWhileNot(() => pushes.length > 0, 20 * lan.pushPullIntervalMs, 10);
  assert.ok(pushes.length > 0, "a one-way push arrived");
  const names = pushes[0].st?.map((e) => e.n).sort();
  assert.equal(names, [...c.names, "spy"].sort(), "carrying the initiator's whole table");
  c.stop();
});

test("sync() compares digests one gossip interval later, and a member that missed a record gets it", () => {
  const n = 6;
  const isolated = 5;
  // No periodic push-pull: sync() is the only exchange that can bring the record.
  const c = createSimCluster({ size: n, seed: 47, config: { pushPullIntervalMs: 0 } });
  c.clock.advance(quiet(n));
  c.net.partition([c.addresses[isolated]]);
  c.members[0].setRecord("roster", "newbie", { trusted: true });
  c.clock.advance(quiet(n)); // the record's broadcast runs out while the member is cut off
  c.net.heal();
  c.clock.advance(quiet(n)); // suspicions of the isolated member are refuted
  const has = (i: number) => Boolean(c.members[i].record("roster", "newbie")?.value);
  assert.equal(c.running().filter((i) => !has(i)), [isolated], "only the isolated one lacks it");

  const frames = tapPushPulls(c, () => {
    c.members[0].sync(c.addresses);
    c.clock.advance(lan.gossipIntervalMs - 1);
  });
  assert.equal(frames, [], "nothing at once");
  // A few exchanges per interval (sync_queue.ts): n - 1 = 5 take two, the isolated one last.
  const later = tapPushPulls(c, () => c.clock.advance(lan.gossipIntervalMs + 50));
  const opened = later.filter((f) => f.f === c.names[0] && !f.r && !f.o);
  assert.is(opened.length, n - 1, "one exchange with each other member");
  assert.ok(opened.every((f) => f.st === undefined && typeof f.sh === "string"), "digests only");
  const answers = later.filter((f) => f.r === true);
  const inSync = answers.filter((f) => f.f !== c.names[isolated]);
  assert.is(inSync.length, n - 2, "every member that holds the record answered");
  assert.ok(inSync.every((f) => f.st === undefined && f.rc === undefined), "agreeing: digests");
  assert.ok(has(isolated), "the isolated member has the record");
  c.stop();
});

/** A fresh engine on `c`'s network (not started). */
function newcomer(c: SimCluster, state: unknown, logger: Logger = silentLogger, port = 1) {
  return createGossip(
    {
      clock: c.clock,
      random: createRandom(99),
      logger,
      transport: c.net.endpoint(`10.9.9.7:${port}`, "newcomer"),
      trust: simTrust(),
    },
    { name: "newcomer", state },
  );
}

test("a member started with another's exported state knows every member at once", () => {
  const c = createSimCluster({ size: 8, seed: 45 });
  c.members[3].setRecord("roster", "m3", { joined: true });
  // Through JSON, as the state travels in a join response.
  const state = JSON.parse(JSON.stringify(c.members[3].exportState()));
  const g = newcomer(c, state);
  const joined: string[] = [];
  g.on("member-join", (e) => void joined.push(e.member.name));
  assert.is(g.stateOf("m5"), undefined, "nothing is known before start");
  g.start();
  assert.equal(c.names.filter((n) => g.stateOf(n) === "alive"), c.names, "no message needed");
  assert.equal(joined.sort(), [...c.names].sort(), "each one announced as a join");
  assert.ok(g.record("roster", "m3"), "the records come along");
  // Not even the records: the member that handed them over holds and spreads them already.
  assert.is(g.stats().queued, 0, "nothing it was handed is gossiped on");
  g.stop();
  c.stop();
});

test("an invalid initial state is logged and ignored; the member starts anyway", () => {
  const c = createSimCluster({ size: 3, seed: 46 });
  const bad = [{ t: "ping", f: "x", s: 1, n: "y" }, { t: "pp", f: "x", s: 0 }, 42];
  for (const [i, state] of bad.entries()) {
    const warnings: string[] = [];
    const logger: Logger = {
      level: 0,
      debug() {},
      info() {},
      warn: (m: string) => void warnings.push(m),
      error() {},
      child: () => logger,
    };
    const g = newcomer(c, state, logger, i + 1);
    g.start();
    assert.equal(warnings, ["Ignoring an invalid initial gossip state"]);
    assert.is(g.members().length, 1, "only itself");
    g.stop();
  }
  c.stop();
});

/** Where `c`'s members sent the full-state push-pulls of a join or reconnect while `fn` runs. */
function tapFullExchanges(c: SimCluster, fn: () => void): { from: string; to: string }[] {
  return tapFrames(c, fn, (from, to, f) => f.t === "pp" && f.j ? { from, to } : undefined);
}

/** Member `i` of `c` leaves gracefully and its process ends (its address is free). */
async function leaveAndExit(c: SimCluster, i: number): Promise<void> {
  const done = c.members[i].leave();
  c.clock.advance(lan.leavePropagateMs);
  await done;
  assert.ok(c.clock.runWhileNot(() => c.allSee(i, "left"), 5000, 10) >= 0, "left everywhere");
  c.crash(i);
}

test("a member alone tries its seeds in turn, each once in as many reconnect ticks", async () => {
  // A restarted member whose first push-pulls were all lost holds nobody; its seeds are the
  // members it knew, one of which may have been removed meanwhile: a random draw per tick could
  // try that one again and again (the simulation's seed 973).
  const c = createSimCluster({ size: 4, seed: 47 });
  await leaveAndExit(c, 3);
  c.net.partition([c.addresses[3]]);
  const seeds = [c.addresses[0], c.addresses[1], c.addresses[2], simAddress(9)];
  c.restart(3, undefined, seeds);
  c.clock.advance(lan.requestTimeoutMs); // the start's push-pulls time out
  const tried = tapFullExchanges(c, () => c.clock.advance(seeds.length * lan.reconnectIntervalMs))
    .filter((x) => x.from === c.addresses[3]).map((x) => x.to);
  assert.equal([...tried].sort(), [...seeds].sort(), "every seed once");
  c.stop();
});

test("a restart's start joins each seed once: asking the seeds again while that join is under way sends no second full state", async () => {
  // The daemon's start passes the seeds to the engine (joined at start, and tried again while
  // alone) and then asks them itself to know when one answered: both shipped the whole table.
  const c = createSimCluster({ size: 4, seed: 49 });
  c.crash(3);
  const seeds = [c.addresses[0], c.addresses[1], c.addresses[2]];
  let answered = -1;
  const sent = tapFullExchanges(c, () => {
    const g = c.restart(3, undefined, seeds);
    void g.join(seeds).then((n) => (answered = n));
  }).filter((x) => x.from === c.addresses[3]).map((x) => x.to);
  assert.equal([...sent].sort(), [...seeds].sort(), "one full state per seed");
  c.clock.advance(lan.requestTimeoutMs);
  for (let i = 0; i < 10 && answered < 0; i++) await Promise.resolve();
  assert.is(answered, 3, "the second ask resolves with the first one's answers");
  c.stop();
});

test("a full exchange with an address that refuses the connection fails a network trip later, not at the request timeout", async () => {
  // A restart push-pulls every member its store remembers; one that is down refuses the dial,
  // and its exchange must count as failed then (the restart asks it whether it was removed).
  const c = createSimCluster({ size: 4, seed: 49 });
  c.crash(1);
  c.crash(3);
  const seeds = [c.addresses[0], c.addresses[1], c.addresses[2]];
  const g = c.restart(3, undefined, seeds);
  const start = c.clock.now();
  const settled = new Map<string, { answered: number; at: number }>();
  for (const s of seeds) {
    void g.join([s]).then((answered) => settled.set(s, { answered, at: c.clock.now() - start }));
  }
  for (let t = 0; t < lan.requestTimeoutMs / 10 && settled.size < seeds.length; t += 10) {
    c.clock.advance(10);
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
  const down = settled.get(c.addresses[1]);
  assert.is(down?.answered, 0, "the exchange with the member that is down failed");
  assert.ok(down!.at <= 100, `it failed ${down!.at} ms after it began`);
  for (const s of [c.addresses[0], c.addresses[2]]) assert.is(settled.get(s)?.answered, 1, s);
  c.stop();
});

test("a member held left that came back unheard, its seeds all gone, is found by the others", async () => {
  // The others hold it `left` (a graceful stop): they neither probe it nor gossip with it, and
  // it holds nobody to probe. Only their reconnect ticks can find it.
  const c = createSimCluster({ size: 3, seed: 48 });
  await leaveAndExit(c, 2);
  const g = c.restart(2, undefined, [simAddress(9)]);
  const took = c.clock.runWhileNot(() => c.converged(), 6 * lan.reconnectIntervalMs, 10);
  assert.ok(
    took >= 0,
    `m2 is seen alive (held: ${c.members[0].stateOf("m2")}), m2 sees the others`,
  );
  assert.ok(g.incarnation > 0, "it refuted its own `left`");
  c.stop();
});

test("reconnect tries members that are down and still members, never a name removed", async () => {
  const removed = new Set<string>();
  const c = createSimCluster({
    size: 5,
    seed: 49,
    trust: () => simTrust({ isMember: (n) => !removed.has(n) }),
  });
  c.crash(4);
  assert.ok(c.clock.runWhileNot(() => c.allSee(4, "dead"), 120_000, 100) >= 0, "m4 dead");
  removed.add("m4");
  await leaveAndExit(c, 3);
  const tried = tapFullExchanges(c, () => c.clock.advance(10 * lan.reconnectIntervalMs))
    .map((x) => x.to);
  assert.ok(tried.includes(c.addresses[3]), "m3 (left, still a member) is tried");
  assert.not.ok(tried.includes(c.addresses[4]), "m4 (dead, removed) is not");
  c.stop();
});

test("seeds stop being tried once their member is removed and reaped, or after a reconnect timeout unheard", () => {
  // A member's seeds are the members it remembered at its start. One removed and then reaped
  // from the table, and one that never answered (an address retired while it was down), would
  // otherwise count as unheard for as long as it runs: a refused connection at reconnect ticks.
  const reconnectTimeoutMs = 120_000;
  const removed = new Set<string>();
  const c = createSimCluster({
    size: 5,
    seed: 57,
    config: { reconnectTimeoutMs },
    trust: () => simTrust({ isMember: (n) => !removed.has(n) }),
  });
  const gone = simAddress(9);
  c.crash(0);
  c.restart(0, undefined, [...c.addresses.slice(1), gone]);
  assert.ok(c.clock.runWhileNot(() => c.converged(), 60_000, 10) >= 0, "converged");
  c.crash(4);
  assert.ok(c.clock.runWhileNot(() => c.allSee(4, "dead"), 60_000, 100) >= 0, "m4 dead");
  removed.add("m4");
  c.clock.advance(reconnectTimeoutMs + 2 * lan.reapIntervalMs);
  const held = c.members.slice(0, 4).map((m) => m.stateOf("m4"));
  assert.equal(held, [undefined, undefined, undefined, undefined], "m4 reaped everywhere");
  const tried = tapFullExchanges(c, () => c.clock.advance(30 * lan.reconnectIntervalMs))
    .map((x) => x.to);
  assert.not.ok(tried.includes(c.addresses[4]), "the removed member's address is not tried");
  assert.not.ok(tried.includes(gone), "the seed never heard is not tried");
  c.stop();
});

test("a failed probe and each reconnect attempt go on a new connection (Transport.redial)", () => {
  // A connection held from before a partition may still look open after it heals, while what
  // is written on it waits for TCP's backed-off retransmissions: tens of seconds.
  const c = createSimCluster({ size: 3, seed: 52 });
  const inner = c.net.endpoint("10.9.9.7:1", "newcomer");
  const log: string[] = [];
  const transport: Transport = {
    address: inner.address,
    send(to, frame, options) {
      const f = frame as { t?: string; j?: boolean };
      if (f.t === "pp" && f.j) log.push(`pp ${to}`);
      inner.send(to, frame, options);
    },
    listen: (handlers) => inner.listen(handlers),
    close: () => inner.close(),
    redial: (to) => void log.push(`redial ${to}`),
  };
  const state = JSON.parse(JSON.stringify(c.members[0].exportState()));
  const g = createGossip(
    {
      clock: c.clock,
      random: createRandom(99),
      logger: silentLogger,
      transport,
      trust: simTrust(),
    },
    { name: "newcomer", state },
  );
  g.start();
  c.clock.advance(10 * lan.probeIntervalMs);
  assert.equal(log.filter((l) => l.startsWith("redial")), [], "probes answered: no redial");
  c.net.partition([inner.address]);
  c.clock.advance(20 * lan.probeIntervalMs);
  const probed = new Set(log.filter((l) => l.startsWith("redial")));
  // Its probes slow down as they all fail (its local health): two targets in that time.
  assert.ok(probed.size >= 2, `each failed probe's target is redialled: ${[...probed]}`);
  log.length = 0;
  assert.ok(
    c.clock.runWhileNot(() => c.names.every((n) => g.stateOf(n) === "dead"), 300_000, 100) >= 0,
    "the others are dead to it",
  );
  log.length = 0;
  c.clock.advance(5 * lan.reconnectIntervalMs);
  const attempts = log.flatMap((l, i) => l.startsWith("pp ") ? [[log[i - 1], l]] : []);
  assert.ok(attempts.length >= 4, `a reconnect attempt per tick: ${log}`);
  for (const [before, attempt] of attempts) {
    assert.is(before, attempt.replace("pp", "redial"), "each attempt on a new connection");
  }
  g.stop();
  c.stop();
});

test("a member held dead here and alive to a peer is told so at the exchange, and refutes within a round trip", () => {
  // After a partition heals, the verdicts each side gossiped while the other could not hear
  // them are held at the accused's own incarnation: its `alive` cannot out-bid them, so it must
  // hear the verdict to refute it. Here m1 holds m0 dead (a verdict m0 never heard) and m2
  // holds it alive; m1's first exchange after the heal, with m2, shows the difference.
  const c = createSimCluster({ size: 3, seed: 54 });
  const [a0, a1, a2] = c.addresses;
  // m1 cut off until each side holds the other dead and nobody gossips to the dead any more.
  c.net.partition([a1]);
  const apart = () => c.allSee(1, "dead", [0, 2]) && c.allSee(0, "dead", [1]);
  assert.ok(c.clock.runWhileNot(apart, 120_000, 100) >= 0, "each side holds the other dead");
  c.clock.advance(lan.gossipToTheDeadMs);
  const inc0 = c.members[0].incarnation;
  assert.is(c.members[1].member("m0")?.incarnation, inc0, "held dead at its own incarnation");
  c.net.heal();
  const notices = tapFrames(c, () => {
    void c.members[1].join([a2]);
    c.clock.advance(2 * lan.gossipIntervalMs);
  }, (from, to, f) => {
    const pb = (f as { pb?: { k: string; n: string }[] }).pb;
    return from === a1 && to === a0 && f.t === "gossip" &&
        pb?.some((u) => u.k === "dead" && u.n === "m0")
      ? to
      : undefined;
  });
  assert.equal(notices, [a0], "m1 tells m0, once");
  assert.ok(c.members[0].incarnation > inc0, "m0 refuted");
  assert.ok(
    c.clock.runWhileNot(() => c.members[1].stateOf("m0") === "alive", 1000, 10) >= 0,
    "m1 holds m0 alive again within a second",
  );
  c.stop();
});

/** Member `i` of `c` runs a new extension list, and every member learns it. */
function upgrade(c: SimCluster, i: number, extensions: string[]): void {
  c.members[i].updateMeta({ extensions });
  const knows = (o: number) =>
    c.members[o].member(c.names[i])?.meta.extensions?.join(",") === extensions.join(",");
  assert.ok(
    c.clock.runWhileNot(() => c.running().every(knows), 10_000, 10) >= 0,
    "the new list is known everywhere",
  );
}

test("a restarted member learns from a push-pull the last metadata of a member the others hold dead", () => {
  // A member that restarted while another was down counted that one with its store's memory
  // of it: the others' `dead` entry was dropped as news of an unknown member (simulation seed
  // 85: a member refused a start the others would have let run).
  const c = createSimCluster({ size: 3, seed: 50 });
  upgrade(c, 2, ["alpha", "delta"]);
  c.crash(2);
  assert.ok(c.clock.runWhileNot(() => c.allSee(2, "dead"), 120_000, 100) >= 0, "m2 dead");
  c.crash(0);
  const g = c.restart(0, undefined, [c.addresses[1]]);
  c.clock.advance(lan.requestTimeoutMs);
  const m2 = g.member("m2");
  assert.is(m2?.state, "dead", "held dead, as m1 holds it");
  assert.equal(m2?.meta.extensions, ["alpha", "delta"], "with the list it last ran");
  assert.is(c.members[1].member("m2")?.incarnation, m2?.incarnation);
  c.stop();
});

test("a member holding another dead takes its newer metadata when the others hold it dead at a later incarnation", () => {
  // m0, cut off, holds m2 dead at its first run; m2 came back with a new list and died again.
  const c = createSimCluster({ size: 3, seed: 51 });
  c.crash(2);
  assert.ok(c.clock.runWhileNot(() => c.allSee(2, "dead"), 120_000, 100) >= 0, "m2 dead");
  c.net.partition([c.addresses[0]]);
  c.restart(2, 1, [c.addresses[1]]);
  assert.ok(c.clock.runWhileNot(() => c.allSee(2, "alive", [1]), 30_000, 10) >= 0, "m2 back");
  c.members[2].updateMeta({ extensions: ["alpha", "delta"] });
  const listed = () => c.members[1].member("m2")?.meta.extensions?.join(",") === "alpha,delta";
  assert.ok(c.clock.runWhileNot(listed, 10_000, 10) >= 0, "m1 knows m2's new list");
  c.crash(2);
  assert.ok(c.clock.runWhileNot(() => c.allSee(2, "dead", [1]), 120_000, 100) >= 0);
  assert.is(c.members[0].member("m2")?.meta.extensions?.join(","), "", "m0 missed it all");
  c.net.heal();
  const took = c.clock.runWhileNot(
    () => c.members[0].member("m2")?.meta.extensions?.join(",") === "alpha,delta",
    4 * lan.pushPullIntervalMs,
    100,
  );
  assert.ok(took >= 0, `m0 holds m2 ${JSON.stringify(c.members[0].member("m2"))}`);
  assert.is(c.members[0].stateOf("m2"), "dead");
  assert.is(c.members[0].member("m2")?.incarnation, c.members[1].member("m2")?.incarnation);
  c.stop();
});

test("a restarted member learns the last metadata of a member the others hold left", () => {
  const c = createSimCluster({ size: 3, seed: 52 });
  upgrade(c, 2, ["alpha", "delta"]);
  const done = c.members[2].leave();
  c.clock.advance(lan.leavePropagateMs);
  return done.then(() => {
    assert.ok(c.clock.runWhileNot(() => c.allSee(2, "left"), 5000, 10) >= 0, "left everywhere");
    c.crash(0);
    const g = c.restart(0, undefined, [c.addresses[1]]);
    c.clock.advance(lan.requestTimeoutMs);
    assert.is(g.stateOf("m2"), "left");
    assert.equal(g.member("m2")?.meta.extensions, ["alpha", "delta"]);
    c.stop();
  });
});

test("a dead member's metadata that its own signature does not cover is not taken", () => {
  const c = createSimCluster({ size: 2, seed: 53 });
  const spy = c.net.endpoint("10.9.9.9:1", "spy");
  const meta = wireMeta("10.9.9.8:1");
  const sg = simSignature("ghost", claimPayload("alive", "ghost", 4, meta));
  const forged = { ...meta, v: "9.9.9" };
  spy.send(c.addresses[1], {
    t: "pp",
    f: "spy",
    s: 7,
    o: true,
    st: [{ k: "dead", n: "ghost", i: 4, m: forged, sg }, {
      k: "dead",
      n: "other",
      i: 2,
      m: meta,
    }],
  });
  c.clock.advance(10);
  assert.is(c.members[1].stateOf("ghost"), undefined, "a signature of other metadata");
  assert.is(c.members[1].stateOf("other"), undefined, "no signature");
  spy.send(c.addresses[1], {
    t: "pp",
    f: "spy",
    s: 8,
    o: true,
    st: [{ k: "dead", n: "ghost", i: 4, m: meta, sg }],
  });
  c.clock.advance(10);
  assert.is(c.members[1].stateOf("ghost"), "dead", "its own claim, held dead");
  c.stop();
});

test.run();
