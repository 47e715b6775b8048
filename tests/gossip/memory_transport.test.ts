import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Frame } from "../../lib/cluster/membership.ts";
import { MemoryNetwork } from "../../gossip/memory_transport.ts";
import { createRandom } from "../../gossip/random.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import { runTransportContract } from "./transport_contract.ts";

for (const frames of ["object", "json"] as const) {
  runTransportContract(`memory (${frames} frames)`, () => {
    const clock = new SimClock();
    const net = new MemoryNetwork({
      clock,
      random: createRandom(1),
      latencyMs: 1,
      jitterMs: 2,
      frames,
    });
    const a = net.endpoint("a:1", "member-a");
    const b = net.endpoint("b:1", "member-b");
    return Promise.resolve({
      a,
      b,
      deadAddress: "nobody:1",
      aIdentity: "member-a",
      settle: () => Promise.resolve(clock.advance(50)),
      crashB: () => Promise.resolve(net.crash("b:1")),
      close: async () => {
        await a.close();
        await b.close();
      },
    });
  });
}

const net = suite("MemoryNetwork faults");

function setup(options: { loss?: number } = {}) {
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
