/**
 * The digest exchanges a member opens after it changed the roster (`sync`, what an admission
 * and a removal call), in deterministic simulations: a few per gossip interval whatever the
 * cluster's size, every other member asked once (a member that missed the change converges
 * through them: `push_pull.test.ts`, whose missing member is asked in the second interval).
 * One turn is one timer callback of the simulated clock (`SimClock.around`).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig, retransmitLimit } from "../../gossip/config.ts";
import type { PushPullMsg } from "../../gossip/messages.ts";
import { createSimCluster } from "../../gossip/sim.ts";
import type { SimCluster } from "../../gossip/sim.ts";
import { SYNCS_PER_INTERVAL } from "../../gossip/sync_queue.ts";

const test = suite("gossip sync queue");
const lan = resolveConfig("lan");

/** Long enough for every broadcast to run out, shorter than the minimum suspicion timeout. */
const quiet = (n: number) =>
  3 * (retransmitLimit(lan.retransmitMult, n) * lan.gossipIntervalMs +
    lan.pushRounds * lan.pushRoundGapMs);

/** Intervals for `targets` exchanges at the queue's pace, plus the first interval's wait. */
const paced = (targets: number) =>
  (Math.ceil(targets / SYNCS_PER_INTERVAL) + 1) * lan.gossipIntervalMs;

interface Opening {
  turn: number;
  to: string;
}

/**
 * Runs `fn` and returns the push-pull exchanges `from` opened meanwhile (frames that are
 * neither answers nor one-way pushes), each with the turn it was sent in.
 */
function openings(c: SimCluster, from: string, fn: () => void): Opening[] {
  const seen: Opening[] = [];
  let turn = 0;
  const send = c.net.send;
  c.net.send = function (sender, to, frame) {
    const f = frame as unknown as PushPullMsg | undefined;
    if (f?.t === "pp" && sender.address === from && !f.r && !f.o) seen.push({ turn, to });
    return send.call(this, sender, to, frame);
  };
  c.clock.around = (run) => {
    turn++;
    run();
  };
  try {
    fn();
  } finally {
    c.net.send = send;
    c.clock.around = undefined;
  }
  return seen;
}

/** Most exchanges opened in one turn. */
const perTurn = (opened: Opening[]) => {
  const counts = new Map<number, number>();
  for (const o of opened) counts.set(o.turn, (counts.get(o.turn) ?? 0) + 1);
  return Math.max(0, ...counts.values());
};

test("after a roster change in a 50-member cluster, the member opens at most SYNCS_PER_INTERVAL digest exchanges per turn, one with every other member", () => {
  const n = 50;
  const c = createSimCluster({ size: n, seed: 61, config: { pushPullIntervalMs: 0 } });
  c.clock.advance(quiet(n));
  c.members[0].setRecord("roster", "newbie", { trusted: true });
  const opened = openings(c, c.addresses[0], () => {
    c.members[0].sync(c.addresses);
    c.clock.advance(paced(n - 1));
  });
  assert.ok(
    perTurn(opened) <= SYNCS_PER_INTERVAL,
    `at most ${SYNCS_PER_INTERVAL} in one turn, saw ${perTurn(opened)}`,
  );
  assert.equal(
    opened.map((o) => o.to).sort(),
    c.addresses.slice(1).sort(),
    "one exchange with each other member, none with itself",
  );
  c.stop();
});

test("roster changes while exchanges wait ask each member once, not once per change", () => {
  const n = 20;
  const c = createSimCluster({ size: n, seed: 62, config: { pushPullIntervalMs: 0 } });
  c.clock.advance(quiet(n));
  const opened = openings(c, c.addresses[0], () => {
    c.members[0].sync(c.addresses);
    c.clock.advance(lan.gossipIntervalMs + 1); // the first few opened, the rest wait
    c.members[0].sync(c.addresses);
    c.members[0].sync(c.addresses);
    c.clock.advance(paced(n - 1));
  });
  const first = opened.filter((o) => o.turn === opened[0].turn).map((o) => o.to);
  const rest = opened.filter((o) => !first.includes(o.to));
  assert.is(first.length, SYNCS_PER_INTERVAL);
  // The ones already asked are asked again (the later change may be news to them); the ones
  // that were waiting are asked once.
  assert.is(rest.length, n - 1 - SYNCS_PER_INTERVAL, "every waiting member asked once");
  assert.is(new Set(rest.map((o) => o.to)).size, rest.length);
  assert.is(opened.length, n - 1 + SYNCS_PER_INTERVAL);
  c.stop();
});

test("a stopped member opens none of the exchanges still waiting", () => {
  const n = 20;
  const c = createSimCluster({ size: n, seed: 64, config: { pushPullIntervalMs: 0 } });
  c.clock.advance(quiet(n));
  const opened = openings(c, c.addresses[0], () => {
    c.members[0].sync(c.addresses);
    c.clock.advance(lan.gossipIntervalMs + 1);
    c.members[0].stop();
    c.clock.advance(paced(n - 1));
  });
  assert.is(opened.length, SYNCS_PER_INTERVAL, "only the first interval's");
  c.stop();
});

test.run();
