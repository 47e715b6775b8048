/**
 * Push-pull exchanges opened by many members at once (each held one member dead and heard from
 * it, or each joined through it), in deterministic simulations: the member they all open with
 * merges and answers a few per gossip interval, and still answers every one within the
 * request timeout. The openings waiting are bounded in count and in size, also against
 * members' certificates sending large ones.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig, retransmitLimit } from "../../gossip/config.ts";
import type { PushPullMsg } from "../../gossip/messages.ts";
import { Paced } from "../../gossip/paced.ts";
import {
  MAX_WAITING_OPENING_CHARS,
  OPENINGS_PER_INTERVAL,
} from "../../gossip/push_pull_answers.ts";
import { createSimCluster } from "../../gossip/sim.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import { adversary, createRosterCluster } from "./roster_fixture.ts";

const test = suite("gossip paced push-pull answers");
const lan = resolveConfig("lan");

/** Long enough for every broadcast to run out, shorter than the minimum suspicion timeout. */
const quiet = (n: number) =>
  3 * (retransmitLimit(lan.retransmitMult, n) * lan.gossipIntervalMs +
    lan.pushRounds * lan.pushRoundGapMs);

test("49 full exchanges opened at once with one member of 50: at most OPENINGS_PER_INTERVAL answered per gossip interval, every one answered", async () => {
  const n = 50;
  const c = createSimCluster({ size: n, seed: 81, config: { pushPullIntervalMs: 0 } });
  c.clock.advance(quiet(n));
  const answeredAt: number[] = [];
  const send = c.net.send;
  c.net.send = function (from, to, frame) {
    const f = frame as unknown as PushPullMsg | undefined;
    if (f?.t === "pp" && f.r && from.address === c.addresses[0]) answeredAt.push(c.clock.now());
    return send.call(this, from, to, frame);
  };
  const start = c.clock.now();
  const joins = c.addresses.slice(1).map((_, i) => c.members[i + 1].join([c.addresses[0]]));
  c.clock.advance(lan.requestTimeoutMs - 1);
  const answered = await Promise.all(joins);
  c.net.send = send;
  assert.equal(answered, joins.map(() => 1), "every exchange answered within the request timeout");
  assert.is(answeredAt.length, n - 1);
  const perInterval = new Map<number, number>();
  for (const t of answeredAt) {
    const i = Math.floor((t - start) / lan.gossipIntervalMs);
    perInterval.set(i, (perInterval.get(i) ?? 0) + 1);
  }
  const most = Math.max(...perInterval.values());
  assert.ok(
    most <= OPENINGS_PER_INTERVAL,
    `at most ${OPENINGS_PER_INTERVAL} per interval, saw ${most}`,
  );
  c.stop();
});

test("Paced refuses an item that would take the waiting size past maxWaitingSize, and frees the size of what ran", () => {
  const clock = new SimClock();
  const ran: number[] = [];
  const q = new Paced<number>(
    clock,
    { intervalMs: 100, perInterval: 2, maxWaiting: 10, maxWaitingSize: 25 },
    (n) => void ran.push(n),
    (n) => n,
  );
  assert.ok(q.push(100) && q.push(100), "run at once: not counted, whatever their size");
  assert.equal(ran, [100, 100]);
  assert.ok(q.push(10) && q.push(10));
  assert.is(q.push(10), false, "10 + 10 + 10 > 25");
  assert.ok(q.push(5), "10 + 10 + 5 fits");
  assert.is(q.waiting, 3);
  assert.is(q.waitingSize, 25);
  clock.advance(100);
  assert.equal(ran, [100, 100, 10, 10]);
  assert.is(q.waitingSize, 5, "what ran no longer counts");
  assert.ok(q.push(20), "5 + 20 fits again");
  q.stop();
  assert.is(q.waitingSize, 0);
  assert.is(q.waiting, 0);
});

test("Paced: items that outlast the interval do not open the next interval in the same stretch: those arriving meanwhile wait an interval after the last one ran", () => {
  // Real members under load: each push-pull opening took 25–50 ms to merge and answer, so four
  // outlasted the 100 ms interval, and every opening arriving in the same turn of the event loop
  // ran at once with a fresh budget: none ever waited (e2e/gossip_hostile_bounds).
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  const clock = {
    now: () => now,
    setTimeout: (fn: () => void, ms: number) => {
      const t = { at: now + ms, fn };
      timers.push(t);
      return t;
    },
    clearTimeout: (t: unknown) => void timers.splice(timers.indexOf(t as never), 1),
  };
  const ran: [number, number][] = [];
  const q = new Paced<number>(
    clock,
    { intervalMs: 100, perInterval: 4, maxWaiting: 100 },
    (n) => {
      ran.push([n, now]);
      now += 40; // each item's work
    },
  );
  for (let i = 0; i < 12; i++) q.push(i); // one turn: no timer runs in between
  assert.equal(ran.map(([n]) => n), [0, 1, 2, 3], "only one interval's items ran in the turn");
  assert.is(q.waiting, 8);
  // The next batch comes an interval after the last item finished (160 ms), not at 100 ms.
  assert.is(timers.length, 1);
  assert.is(timers[0].at, 260);
  for (let turn = 0; turn < 4 && timers.length; turn++) {
    const t = timers.shift()!;
    now = Math.max(now, t.at);
    t.fn();
  }
  assert.equal(ran.map(([n]) => n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(ran.slice(4, 8).map(([, t]) => t), [260, 300, 340, 380]);
  assert.is(ran[8][1], 520, "and the third an interval after the second finished");
  assert.is(q.waiting, 0);
});

test("large openings from 8 members' certificates: the openings held waiting stay within MAX_WAITING_OPENING_CHARS, the rest are dropped and counted, and an honest exchange is answered after", async () => {
  const n = 10;
  const c = await createRosterCluster(n, { seed: 83, config: { pushPullIntervalMs: 0 } });
  // A fresh window of the per-peer answer bound: each certificate may have 8 answered.
  c.clock.advance(20_000 - (c.clock.now() % 10_000));
  // About 600 000 chars of JSON each: extension lists nobody runs (so merging them is cheap).
  const x: Record<string, string[]> = {};
  for (let l = 0; l < 3; l++) {
    x[`list-${l}`] = Array.from({ length: 8000 }, (_, i) => `ext_${l}_${i}_${"p".repeat(10)}`);
  }
  const answered: number[] = [];
  const send = c.net.send;
  c.net.send = function (from, to, frame) {
    const f = frame as unknown as PushPullMsg | undefined;
    if (f?.t === "pp" && f.r && f.s >= 1_000_000 && from.address === c.addresses[0]) {
      answered.push(f.s);
    }
    return send.call(this, from, to, frame);
  };
  let size = 0;
  let sent = 0;
  const evil = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => adversary(c, i, i));
  for (let k = 0; k < 8; k++) {
    for (let i = 1; i <= 8; i++) {
      const msg = { t: "pp", f: `m${i}`, s: 1_000_000 + sent, j: true, st: [], x };
      // As text, as a socket hands it: each opening is parsed into its own objects.
      const text = JSON.stringify(msg);
      size = text.length;
      evil[i - 1].send(c.addresses[0], text);
      sent++;
    }
  }
  c.clock.advance(20 * lan.gossipIntervalMs);
  c.net.send = send;
  const held = answered.length - OPENINGS_PER_INTERVAL; // the first ones ran as they came
  const chars = held * size;
  assert.ok(
    chars <= MAX_WAITING_OPENING_CHARS,
    `${held} openings of ${size} chars held waiting (${chars} > ${MAX_WAITING_OPENING_CHARS})`,
  );
  assert.ok(held >= 1, "openings within the bound still wait and are answered");
  assert.is(c.members[0].stats().openingsDropped, sent - answered.length);
  // The waiting size was given back: an honest member's join is answered.
  const join = c.members[9].join([c.addresses[0]]);
  c.clock.advance(lan.requestTimeoutMs - 1);
  assert.is(await join, 1);
  c.stop();
});

test.run();
