import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Frame } from "../../lib/cluster/transport.ts";
import { MemoryNetwork } from "../../gossip/memory_transport.ts";
import { RTO_MIN_MS, streamSegment } from "../../gossip/tcp_stream.ts";
import type { LossModel } from "../../gossip/memory_transport.ts";
import { createRandom } from "../../gossip/random.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import { runTransportContract } from "./transport_contract.ts";
import { memoryPair } from "./memory_pair.ts";

for (const frames of ["object", "json"] as const) {
  runTransportContract(`memory (${frames} frames)`, () => memoryPair({ jitterMs: 2, frames }));
}

const net = suite("MemoryNetwork faults");

function setup(options: { loss?: number; lossModel?: LossModel; streamCutMs?: number } = {}) {
  const clock = new SimClock();
  const network = new MemoryNetwork({ clock, random: createRandom(42), latencyMs: 1, ...options });
  const got: Record<string, Frame[]> = { a: [], b: [], c: [] };
  const refused: string[] = [];
  for (const n of ["a", "b", "c"]) {
    network.endpoint(n).listen({
      message: (_from, f) => got[n].push(f),
      refused: (to) => refused.push(`${n}->${to}`),
    });
  }
  return { clock, network, got, refused };
}

net("loss drops about the configured share, deterministically for a seed", () => {
  const run = () => {
    const { clock, network, got } = setup({ loss: 0.1 });
    const a = network.endpoint("x");
    for (let i = 0; i < 2000; i++) a.send("b", { i });
    clock.advance(10);
    return got.b.length;
  };
  const first = run();
  assert.ok(first > 1700 && first < 1900, `${first} of 2000 arrived`);
  assert.is(run(), first);
});

net("stream loss loses nothing: frames arrive in order, late by retransmission timeouts", () => {
  const { clock, network, got } = setup({ loss: 0.3, lossModel: "stream" });
  const a = network.endpoint("x");
  const sentAt: number[] = [];
  const lateness: number[] = [];
  network.endpoint("y").listen({
    message: (_from, f) => lateness.push(clock.now() - sentAt[(f as { i: number }).i]),
    refused: () => {},
  });
  for (let i = 0; i < 3000; i++) {
    sentAt.push(clock.now());
    a.send("b", { i });
    a.send("y", { i });
    clock.advance(50);
  }
  clock.advance(300_000);
  assert.is(got.b.length, 3000);
  assert.equal(got.b.map((f) => (f as { i: number }).i), [...Array(3000).keys()]);
  assert.is(network.stats("x").dropped, 0);
  // A real TCP connection at 30 % loss both ways, a line every 50 ms (scripts/faults/tcp_stalls.ts):
  // 87 % of lines ≥ 0.2 s late, 70 % ≥ 1.4 s, 51 % ≥ 3 s. A lost packet holds up every frame
  // behind it, and the timeouts double, so most frames are late and many by seconds.
  const late = (ms: number) => lateness.filter((t) => t >= ms).length / lateness.length;
  assert.ok(late(RTO_MIN_MS) > 0.5, `${late(RTO_MIN_MS)} ≥ 200 ms`);
  assert.ok(late(1400) > 0.2, `${late(1400)} ≥ 1.4 s`);
  assert.ok(late(1400) < late(RTO_MIN_MS), "fewer wait longer");
});

net(
  "streamCutMs: a frame that would come later than the cut is lost, and the connection starts afresh",
  () => {
    const cut = 2000;
    const { clock, network, got } = setup({ loss: 0.3, lossModel: "stream", streamCutMs: cut });
    const a = network.endpoint("x");
    const lateness: number[] = [];
    network.endpoint("y").listen({
      message: (_from, f) => lateness.push(clock.now() - (f as { at: number }).at),
      refused: () => {},
    });
    for (let i = 0; i < 3000; i++) {
      a.send("y", { at: clock.now() });
      a.send("b", { i });
      clock.advance(50);
    }
    clock.advance(300_000);
    const dropped = network.stats("x").dropped;
    assert.ok(dropped > 0, "nothing was cut");
    assert.is(lateness.length + got.b.length + dropped, 6000);
    assert.ok(Math.max(...lateness) <= cut, `a frame came ${Math.max(...lateness)} ms late`);
  },
);

net("streamSegment: a first copy that arrives holds nothing up; a lost one backs off", () => {
  const draws = (...v: number[]) => () => v.shift()!;
  assert.equal(streamSegment(1000, 0.3, draws(0.5)), { leaves: 1000, acked: undefined });
  // Lost, then arrives but its acknowledgement is lost, then both arrive: 200 + 400 ms.
  assert.equal(streamSegment(1000, 0.3, draws(0.1, 0.5, 0.1, 0.5, 0.5)), {
    leaves: 1200,
    acked: 1600,
  });
  assert.equal(streamSegment(0, 0, draws()), { leaves: 0, acked: undefined });
});

net("a partition drops frames across groups silently, and heal restores them", () => {
  const { clock, network, got, refused } = setup();
  const c = network.endpoint("d");
  network.partition(["a", "b"]);
  c.send("a", { x: 1 });
  clock.advance(10);
  assert.is(got.a.length, 0);
  assert.equal(refused, []);
  network.heal();
  c.send("a", { x: 2 });
  clock.advance(10);
  assert.is(got.a.length, 1);
});

net("a stalled member's traffic waits and arrives in order on resume", () => {
  const { clock, network, got } = setup();
  const d = network.endpoint("d");
  network.stall("a");
  for (let i = 0; i < 3; i++) d.send("a", { i });
  clock.advance(100);
  assert.is(got.a.length, 0);
  network.resume("a");
  assert.equal(got.a, [{ i: 0 }, { i: 1 }, { i: 2 }]);
});

net("a crashed member refuses, and its address can be reused", () => {
  const { clock, network, got, refused } = setup();
  network.crash("b");
  const d = network.endpoint("d");
  d.listen({ message: () => {}, refused: (to) => refused.push(`d->${to}`) });
  d.send("b", { x: 1 });
  clock.advance(10);
  assert.equal(refused, ["d->b"]);
  assert.is(got.b.length, 0);
  const b2 = network.endpoint("b");
  const seen: Frame[] = [];
  b2.listen({ message: (_f, fr) => seen.push(fr), refused: () => {} });
  d.send("b", { x: 2 });
  clock.advance(10);
  assert.equal(seen, [{ x: 2 }]);
});

net("counts bytes of JSON frames", () => {
  const clock = new SimClock();
  const network = new MemoryNetwork({ clock, random: createRandom(1), frames: "json" });
  const a = network.endpoint("a");
  network.endpoint("b").listen({ message: () => {}, refused: () => {} });
  a.send("b", { hello: "world" });
  clock.advance(5);
  assert.is(network.stats("a").sentBytes, JSON.stringify({ hello: "world" }).length);
  assert.is(network.stats("b").receivedFrames, 1);
});

net.run();

const clk = suite("SimClock");

clk("fires timers in time then creation order and skips cancelled ones", () => {
  const clock = new SimClock();
  const order: string[] = [];
  clock.setTimeout(() => order.push("b"), 20);
  clock.setTimeout(() => order.push("a"), 10);
  const c = clock.setTimeout(() => order.push("c"), 15);
  clock.setTimeout(() => order.push("a2"), 10);
  clock.clearTimeout(c);
  clock.advance(25);
  assert.equal(order, ["a", "a2", "b"]);
  assert.is(clock.now(), 25);
});

clk("timers scheduled from timers run within the same advance", () => {
  const clock = new SimClock();
  let n = 0;
  const tick = () => {
    n++;
    if (n < 5) clock.setTimeout(tick, 10);
  };
  clock.setTimeout(tick, 10);
  clock.advance(100);
  assert.is(n, 5);
});

clk.run();

const compaction = suite("SimClock compaction");

compaction("cancelling many timers from inside a callback keeps time order", () => {
  const clock = new SimClock();
  const handles = Array.from({ length: 5000 }, (_, i) => clock.setTimeout(() => {}, 1000 + i));
  const fired: number[] = [];
  clock.setTimeout(() => {
    for (const h of handles) clock.clearTimeout(h);
    clock.setTimeout(() => fired.push(clock.now()), 50);
  }, 10);
  clock.setTimeout(() => fired.push(clock.now()), 30_000);
  clock.advance(100);
  assert.equal(fired, [60]);
  assert.is(clock.now(), 100);
  clock.advance(40_000);
  assert.equal(fired, [60, 30_000]);
});

compaction.run();
