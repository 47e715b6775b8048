/**
 * The inbound bound per sender on the gossip socket (`gossip/frame_rate.ts`): the token
 * buckets themselves, the claim that the engine's own traffic never meets the bound (every
 * frame of simulated clusters under loss and churn replayed through it), and the WebSocket
 * transport dropping a flood from one certificate while another sender's frames all arrive.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig } from "../../gossip/config.ts";
import type { GossipPreset } from "../../gossip/config.ts";
import {
  HandlingBudget,
  honestFramesPerSecond,
  inboundRateFor,
  PeerRateLimiter,
  RATE_HEADROOM,
} from "../../gossip/frame_rate.ts";
import { createSimCluster } from "../../gossip/sim.ts";
import type { Frame } from "../../lib/cluster/transport.ts";
import { keyPair } from "../net/_helpers.ts";
import { logged, sleep, startMember, waitFor } from "./ws_helpers.ts";
import type { WsMember } from "./ws_helpers.ts";

const test = suite("gossip inbound rate per sender");

test("handling time: a sender is handled while its budget is not spent, then waits for the refill; others are not charged", () => {
  let now = 0;
  const budget = new HandlingBudget(100, 100, () => now);
  assert.is(budget.wait("a"), 0, "a new sender has its burst");
  budget.charge("a", 60);
  assert.is(budget.wait("a"), 0, "40 ms left");
  budget.charge("a", 90); // one frame may overdraw it
  assert.is(budget.wait("a"), 510, "50 ms overdrawn, and 1 ms to have, at 100 ms/s");
  assert.is(budget.wait("b"), 0, "another sender has its own budget");
  now = 510;
  assert.is(budget.wait("a"), 0, "refilled");
  budget.charge("a", NaN);
  budget.charge("a", -5);
  assert.is(budget.wait("a"), 0, "nonsense charges take nothing");
  now = 100_000;
  budget.sweep();
  assert.is(budget.size, 0, "full budgets are forgotten");
  budget.charge("a", 1_000);
  assert.is(budget.wait("a"), 9_010, "the burst caps the refill: 900 ms overdrawn");
});

test("inboundRateFor bounds the handling time of a sender's large frames", () => {
  const rate = inboundRateFor(resolveConfig("local"));
  assert.ok(rate.handlingMsPerSecond! > 0 && rate.handlingMsPerSecond! <= 250);
  assert.ok(rate.handlingBurstMs! > 0 && rate.handlingBurstMs! <= 250);
});

test("a sender gets its burst at once, then the sustained rate; others are not charged", () => {
  let now = 0;
  const limiter = new PeerRateLimiter(
    { framesPerSecond: 10, burstFrames: 5, bytesPerSecond: 1000, burstBytes: 2000 },
    () => now,
  );
  for (let i = 0; i < 5; i++) assert.is(limiter.take("a", 10), 0, `frame ${i} of the burst`);
  assert.is(limiter.take("a", 10), 100, "the sixth waits one frame's refill (100 ms)");
  assert.is(limiter.take("b", 10), 0, "another sender has its own budget");
  now = 100;
  assert.is(limiter.take("a", 10), 0, "one frame refilled after 100 ms");
  assert.ok(limiter.take("a", 10) > 0);
  // Bytes: 2000 of burst, 1000/s.
  now = 10_000;
  assert.is(limiter.take("a", 1500), 0);
  assert.is(limiter.take("a", 1500), 1000, "1000 bytes missing at 1000/s");
  now = 11_000;
  assert.is(limiter.take("a", 1500), 0);
  assert.is(limiter.take("a", 5000), 2000, "a frame above the burst needs a full bucket");
  now = 20_000;
  assert.is(limiter.take("a", 5000), 0, "and takes it when full");
});

test("sweep() forgets senders whose budget has refilled", () => {
  let now = 0;
  const limiter = new PeerRateLimiter(
    { framesPerSecond: 10, burstFrames: 10, bytesPerSecond: 1000, burstBytes: 1000 },
    () => now,
  );
  limiter.take("a", 100);
  limiter.take("b", 100);
  limiter.sweep();
  assert.is(limiter.size, 2);
  now = 50;
  limiter.take("b", 100);
  now = 150;
  limiter.sweep();
  assert.is(limiter.size, 1, "a refilled (100 ms for a frame and its bytes), b not yet");
});

test("the buckets refill across a step of the wall clock back (NTP, date -s): their clock is monotonic", async () => {
  // A step back of 10 min froze every bucket spent before it for those 10 min: the refill only
  // counted wall time moving forwards, and a peer's probes were dropped as over its rate.
  const wall = Date.now;
  let step = 0;
  Date.now = () => wall() + step; // the wall clock as a step moves it (before the buckets exist)
  try {
    // Slow refills (a frame per 50 ms, 20 ms of handling a second): the takes and charges below
    // run well within them on a loaded machine (at 1000 a second, a 1 ms pause refilled one).
    const limiter = new PeerRateLimiter({
      framesPerSecond: 20,
      burstFrames: 3,
      bytesPerSecond: 1e9,
      burstBytes: 1e9,
    });
    const budget = new HandlingBudget(20, 5);
    for (let i = 0; i < 3; i++) assert.is(limiter.take("a", 10), 0);
    assert.ok(limiter.take("a", 10) > 0, "the frame burst is spent");
    budget.charge("a", 10);
    assert.ok(budget.wait("a") > 0, "the handling budget is spent");
    step = -600_000;
    await sleep(400); // 8 frames, and 8 ms of handling (5 were owed)
    assert.is(limiter.take("a", 10), 0, "the frame bucket refilled after the step");
    assert.is(budget.wait("a"), 0, "the handling budget refilled after the step");
  } finally {
    Date.now = wall;
  }
});

test("the bound is the engine's own largest send rate to one member, with headroom", () => {
  for (const [preset, honest] of [["local", 96], ["lan", 55]] as const) {
    const config = resolveConfig(preset);
    assert.is(honestFramesPerSecond(config), honest, preset);
    const rate = inboundRateFor(config);
    assert.is(rate.framesPerSecond, RATE_HEADROOM * honest, preset);
    assert.is(rate.burstFrames, 2 * rate.framesPerSecond);
    assert.ok(rate.bytesPerSecond >= rate.framesPerSecond * config.maxMessageBytes);
  }
});

/**
 * Replays every frame a simulated cluster sends through one limiter per receiver, as the
 * receivers' transports would meet them (send time; loopback latency is a quarter ms), and
 * returns the frames the bound would have dropped.
 */
function honestDrops(
  preset: GossipPreset,
  size: number,
  seed: number,
  loss: number,
): { frames: number; dropped: string[] } {
  const config = resolveConfig(preset);
  const rate = inboundRateFor(config);
  const c = createSimCluster({ size, seed, preset, network: { connections: true } });
  const limiters = new Map<string, PeerRateLimiter>();
  const dropped: string[] = [];
  let frames = 0;
  const net = c.net as unknown as {
    send(from: { address: string }, to: string, frame: Frame): void;
  };
  const send = net.send.bind(net);
  net.send = (from, to, frame) => {
    frames++;
    let limiter = limiters.get(to);
    if (!limiter) limiters.set(to, limiter = new PeerRateLimiter(rate, () => c.clock.now()));
    const bytes = typeof frame === "string"
      ? frame.length
      : frame instanceof Uint8Array
      ? frame.byteLength
      : JSON.stringify(frame).length;
    if (limiter.take(from.address, bytes) > 0) {
      const t = (frame as { t?: string }).t;
      dropped.push(`${from.address} → ${to} at ${c.clock.now()} ms: ${t}`);
    }
    send(from, to, frame);
  };
  // Formed without loss (formation is not seen; the restarts below replay joins).
  c.net.setLoss(loss);
  // Steady gossip, then churn: a member crashes (suspicion, dead, refutations spread) and comes
  // back (a join: full state both ways, immediate pushes), then a second one.
  c.clock.advance(20_000);
  for (const i of [1, 2]) {
    c.crash(i);
    c.clock.advance(30_000);
    c.restart(i);
    c.clock.advance(20_000);
  }
  c.stop();
  return { frames, dropped };
}

for (const preset of ["local", "lan"] as const) {
  test(`${preset}: no frame of honest members under 10 % loss and churn meets the bound`, () => {
    for (const [size, seed] of [[5, 11], [24, 12]]) {
      const r = honestDrops(preset, size, seed, 0.1);
      assert.ok(r.frames > 1000, `only ${r.frames} frames`);
      assert.equal(r.dropped.slice(0, 5), [], `${size} members: ${r.dropped.length} dropped`);
    }
  });
}

interface Ctx {
  members: WsMember[];
}
const wire = suite<Ctx>("gossip inbound rate on the WebSocket transport", { members: [] });
wire.after.each(async (ctx) => {
  await Promise.all(ctx.members.map((m) => m.close()));
  ctx.members = [];
});

wire(
  "a flood from one certificate is dropped and logged once; another sender loses nothing",
  async (ctx) => {
    const trust = new Set<string>();
    for (const name of ["alpha", "beta", "gamma"]) trust.add((await keyPair(name)).fingerprint);
    const rate = { framesPerSecond: 50, burstFrames: 50, bytesPerSecond: 1e6, burstBytes: 1e6 };
    const alpha = await startMember("alpha", trust, { inboundRate: rate });
    const beta = await startMember("beta", trust);
    const gamma = await startMember("gamma", trust);
    ctx.members.push(alpha, beta, gamma);
    const started = Date.now();
    // gamma: 3000 frames at once (queued while dialling, flushed when the connection opens).
    for (let i = 0; i < 3000; i++) gamma.transport.send(alpha.listener.address, { t: "flood", i });
    // beta: 20 frames/s for a second, well within its own budget.
    for (let i = 0; i < 20; i++) {
      beta.transport.send(alpha.listener.address, { t: "honest", i });
      await sleep(50);
    }
    await waitFor(
      () => alpha.inbox.filter((m) => m.from === beta.listener.address).length === 20,
      "beta's 20 frames",
    );
    await sleep(300);
    const elapsed = (Date.now() - started) / 1000;
    const flood = alpha.inbox.filter((m) => m.from === gamma.listener.address).length;
    const stats = alpha.transport.stats();
    assert.ok(flood >= rate.burstFrames, `only ${flood} of the flood's frames arrived`);
    assert.ok(
      flood <= rate.burstFrames + Math.ceil(rate.framesPerSecond * elapsed) + 1,
      `${flood} frames of the flood in ${elapsed} s`,
    );
    assert.ok(stats.rateLimited > 0, "nothing counted");
    assert.is(stats.framesReceived, flood + 20 + stats.rateLimited);
    const lines = logged(alpha, /rate limit dropped/);
    assert.is(lines.length, 1, "one line per sender per 10 s");
    assert.is(lines[0].fingerprint, (await keyPair("gamma")).fingerprint);
    assert.is(lines[0].level, 40, "warn");
    // The connection is read again once the budget refilled: gamma is heard again.
    await sleep(1000);
    const heard = alpha.inbox.length;
    gamma.transport.send(alpha.listener.address, { t: "after" });
    await waitFor(
      () => alpha.inbox.slice(heard).some((m) => String(m.frame).includes('"after"')),
      "gamma's frame after the flood",
      5000,
    );
  },
);

wire("without a bound (the default), every frame is read", async (ctx) => {
  const trust = new Set<string>();
  for (const name of ["alpha", "gamma"]) trust.add((await keyPair(name)).fingerprint);
  const alpha = await startMember("alpha", trust);
  const gamma = await startMember("gamma", trust);
  ctx.members.push(alpha, gamma);
  for (let i = 0; i < 500; i++) gamma.transport.send(alpha.listener.address, { t: "burst", i });
  await waitFor(() => alpha.inbox.length === 500, "500 frames");
  assert.is(alpha.transport.stats().rateLimited, 0);
});

test.run();
wire.run();
