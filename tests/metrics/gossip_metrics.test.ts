/**
 * Gossip metrics: two engines on an in-memory network, each transport observed, counted by the
 * metrics as a scraper reads them. Every frame one member sends is one the other receives, with
 * the same type and size; push-pulls, probes and failures show in the counters; totals survive
 * a new engine.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Registry } from "prom-client";
import { createGossip } from "../../gossip/engine.ts";
import { MemoryNetwork } from "../../gossip/memory_transport.ts";
import { observeTransport } from "../../gossip/observed_transport.ts";
import { createRandom } from "../../gossip/random.ts";
import { simTrust } from "../../gossip/sim_trust.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import { silentLogger } from "../../lib/log.ts";
import { GossipMetrics } from "../../lib/metrics/gossip_metrics.ts";
import type { GossipCounters } from "../../lib/metrics/observers.ts";
import { samples } from "../helpers/metrics.ts";

const test = suite("gossip metrics");

function pair(frames: "object" | "json") {
  const clock = new SimClock(0);
  const net = new MemoryNetwork({ clock, random: createRandom(7), frames });
  const metrics = [new Registry(), new Registry()].map((r) => ({ r, m: new GossipMetrics(r) }));
  const engines = ["a", "b"].map((name, i) =>
    createGossip({
      clock,
      random: createRandom(11 + i),
      logger: silentLogger,
      transport: observeTransport(net.endpoint(`${name}:1`), metrics[i].m),
      trust: simTrust(),
    }, { name, preset: "local", seeds: i === 1 ? ["a:1"] : [] })
  );
  const counters = (i: number): GossipCounters => {
    const s = engines[i].stats();
    return {
      probes: s.probes,
      probesFailed: s.probesFailed,
      suspicions: s.suspicions,
      refutations: s.refutations,
      queued: s.queued,
      localHealth: s.localHealth,
      inbound: 0,
      outbound: 0,
      dropped: 0,
      dialled: 0,
      connectionsEvicted: 0,
      rateLimited: 0,
      openingsDropped: s.openingsDropped,
      mergesDropped: s.mergesDropped,
      mergeEntriesWaiting: s.mergeEntriesWaiting,
      states: Object.fromEntries(["alive", "suspect", "dead", "left"].map((st) => [
        st,
        engines[i].members().filter((m) => m.state === st).length,
      ])),
    };
  };
  const detach = metrics.map((x, i) => x.m.attach(() => counters(i)));
  return { clock, net, engines, metrics, detach };
}

async function scrape(x: { r: Registry; m: GossipMetrics }) {
  x.m.update();
  return samples(await x.r.metrics());
}

for (const frames of ["object", "json"] as const) {
  test(`every frame sent is received once, with its type and size (${frames} frames)`, async () => {
    const { clock, engines, metrics } = pair(frames);
    for (const e of engines) e.start();
    clock.advance(20_000);
    const [a, b] = await Promise.all(metrics.map(scrape));
    let types = 0;
    for (const type of ["ping", "ack", "pp"]) {
      const sent = a.get(`cohort_gossip_messages_total{direction="sent",type="${type}"}`);
      const got = b.get(`cohort_gossip_messages_total{direction="received",type="${type}"}`);
      assert.ok(sent && sent > 0, `a sent no ${type}`);
      assert.is(got, sent, `${type}: sent by a, received by b`);
      if (frames === "json") {
        assert.is(
          b.get(`cohort_gossip_bytes_total{direction="received",type="${type}"}`),
          a.get(`cohort_gossip_bytes_total{direction="sent",type="${type}"}`),
        );
      }
      types++;
    }
    assert.is(types, 3);
    assert.is(a.get(`cohort_gossip_messages_total{direction="received",type="other"}`), undefined);
    // b joined a: one exchange it initiated and a answered, then periodic ones both ways.
    assert.ok(b.get(`cohort_gossip_push_pulls_total{role="initiated"}`)! >= 1);
    assert.ok(a.get(`cohort_gossip_push_pulls_total{role="answered"}`)! >= 1);
    assert.ok(a.get("cohort_gossip_probes_total")! > 0);
    assert.is(a.get(`cohort_gossip_members{state="alive"}`), 2);
  });
}

test("a member that stops answering: failed probes and a suspicion, then dead in the table", async () => {
  const { clock, engines, metrics } = pair("object");
  for (const e of engines) e.start();
  clock.advance(5_000);
  engines[1].stop(); // crashed: no goodbye
  clock.advance(30_000);
  const a = await scrape(metrics[0]);
  assert.ok(a.get("cohort_gossip_probe_failures_total")! >= 1);
  assert.ok(a.get("cohort_gossip_suspicions_total")! >= 1);
  assert.is(a.get(`cohort_gossip_members{state="dead"}`), 1);
});

test("totals survive a new engine: a detached engine's counts stay, the new one's add up", async () => {
  const { clock, engines, metrics, detach } = pair("object");
  for (const e of engines) e.start();
  clock.advance(10_000);
  const before = (await scrape(metrics[0])).get("cohort_gossip_probes_total")!;
  assert.ok(before > 0);
  engines[0].stop();
  detach[0]();
  metrics[0].m.attach(() => ({
    probes: 2,
    probesFailed: 0,
    suspicions: 0,
    refutations: 0,
    queued: 0,
    localHealth: 0,
    inbound: 1,
    outbound: 1,
    dropped: 0,
    dialled: 3,
    connectionsEvicted: 7,
    rateLimited: 8,
    openingsDropped: 4,
    mergesDropped: 5,
    mergeEntriesWaiting: 6,
    states: { alive: 1 },
  }));
  const after = await scrape(metrics[0]);
  assert.is(after.get("cohort_gossip_probes_total"), before + 2);
  assert.is(after.get("cohort_gossip_dials_total"), 3);
  assert.is(after.get("cohort_gossip_connections_evicted_total"), 7);
  assert.is(after.get("cohort_gossip_frames_rate_limited_total"), 8);
  assert.is(after.get("cohort_gossip_openings_dropped_total"), 4);
  assert.is(after.get("cohort_gossip_merges_dropped_total"), 5);
  assert.is(after.get("cohort_gossip_merge_entries_waiting"), 6);
  assert.is(after.get(`cohort_gossip_connections{direction="inbound"}`), 1);
});

test("a frame whose type cannot be read counts as other, whatever it claims", async () => {
  const registry = new Registry();
  const m = new GossipMetrics(registry);
  let delivered = 0;
  const inner = {
    address: "x:1",
    send() {},
    listen(h: { message(from: string, f: unknown): void }) {
      h.message("y:1", '{"t":"evil_type_name","f":"y"}');
      h.message("y:1", "not json");
      h.message("y:1", new TextEncoder().encode('{"t":"ping","f":"y","s":1,"n":"x"}'));
    },
    close: () => Promise.resolve(),
  };
  observeTransport(inner, m).listen({ message: () => delivered++, refused: () => {} });
  const got = samples(await registry.metrics());
  assert.is(delivered, 3, "the engine still gets every frame (and judges it)");
  assert.is(got.get(`cohort_gossip_messages_total{direction="received",type="other"}`), 2);
  assert.is(got.get(`cohort_gossip_messages_total{direction="received",type="ping"}`), 1);
});

test.run();
