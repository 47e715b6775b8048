/**
 * Push-pull exchanges opened by many members at once (each held one member dead and heard from
 * it, or each joined through it), in deterministic simulations: the member they all open with
 * merges and answers a few per gossip interval, and still answers every one within the
 * request timeout.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig, retransmitLimit } from "../../gossip/config.ts";
import type { PushPullMsg } from "../../gossip/messages.ts";
import { OPENINGS_PER_INTERVAL } from "../../gossip/push_pull.ts";
import { createSimCluster } from "../../gossip/sim.ts";

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

test.run();
