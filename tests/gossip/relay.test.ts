/**
 * The relay side of the indirect probe, driven through its seam with a scripted engine: what it
 * pings, what it answers the requester and when, and what a peer cannot make it do.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig } from "../../gossip/config.ts";
import type { Message } from "../../gossip/messages.ts";
import { createRandom } from "../../gossip/random.ts";
import { MAX_RELAYS, Relayer, type RelayHost, relayTimeout } from "../../gossip/relay.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import type { StateMachine } from "../../gossip/state.ts";
import { silentLogger } from "../../lib/log.ts";

const test = suite("relay");
const config = resolveConfig("lan");

/** A relay whose engine holds `live` members (name → address) and records what it sends. */
function relayOf(live: Record<string, string>) {
  const clock = new SimClock();
  const sent: { to: string; msg: Message }[] = [];
  const pings: { address: string; target: string; seq: number }[] = [];
  let seq = 100;
  const self = { name: "me", address: "me:1", state: "alive" };
  const entries = new Map(
    Object.entries(live).map(([name, address]) => [name, { name, address, state: "alive" }]),
  );
  const host = {
    name: "me",
    state: { self, table: { get: (n: string) => entries.get(n) } } as unknown as StateMachine,
    config,
    clock,
    random: createRandom(1),
    logger: silentLogger,
    nextSeq: () => ++seq,
    send: (to: string, msg: Message) => sent.push({ to, msg }),
    redial() {},
    ping: (address: string, target: string, s: number) => pings.push({ address, target, seq: s }),
  } satisfies RelayHost;
  return { relayer: new Relayer(host), clock, sent, pings };
}

const preq = (n: string, s = 7, a = "where:9") => ({ t: "preq", f: "req", s, n, a }) as const;

test("a relay nacks before the end of the prober's interval, for both presets", () => {
  for (const preset of ["lan", "local"] as const) {
    const c = resolveConfig(preset);
    const t = relayTimeout(c);
    assert.ok(t > 0 && t <= c.probeTimeoutMs, `${preset}: ${t}`);
    assert.ok(t < c.probeIntervalMs - c.probeTimeoutMs, `${preset}: nack after the interval`);
  }
});

test("pings the address held for the member, never the one the requester names", () => {
  const r = relayOf({ b: "b:7000" });
  r.relayer.handlePingReq(preq("b", 7, "attacker:1"), "req:1");
  assert.equal(r.pings.map((p) => [p.address, p.target]), [["b:7000", "b"]]);
});

test("a member not held live (or itself) gets a nack at once", () => {
  const r = relayOf({});
  r.relayer.handlePingReq(preq("ghost"), "req:1");
  r.relayer.handlePingReq(preq("me", 8), "req:1");
  assert.equal(r.pings, []);
  assert.equal(r.sent.map((s) => [s.to, s.msg.t, (s.msg as { s: number }).s]), [
    ["req:1", "nack", 7],
    ["req:1", "nack", 8],
  ]);
});

test("the target's ack goes back with the requester's sequence; another member's does not", () => {
  const r = relayOf({ b: "b:7000" });
  r.relayer.handlePingReq(preq("b", 42), "req:1");
  const seq = r.pings[0].seq;
  assert.not.ok(r.relayer.handleAck(seq, { authenticated: true, name: "c" }), "forged ack");
  assert.equal(r.sent, []);
  assert.ok(r.relayer.handleAck(seq, { authenticated: true, name: "b" }));
  assert.equal(r.sent, [{ to: "req:1", msg: { t: "ack", f: "me", s: 42 } }]);
  assert.not.ok(r.relayer.handleAck(seq, { authenticated: true, name: "b" }), "answered once");
});

test("silence: the ping once more halfway, then a nack at the relay timeout", () => {
  const r = relayOf({ b: "b:7000" });
  r.relayer.handlePingReq(preq("b"), "req:1");
  const half = relayTimeout(config) / 2;
  r.clock.advance(half);
  assert.is(r.pings.length, 2);
  assert.is(r.pings[1].seq, r.pings[0].seq, "the same sequence: a late first ack still counts");
  assert.equal(r.sent, []);
  r.clock.advance(half);
  assert.equal(r.sent, [{ to: "req:1", msg: { t: "nack", f: "me", s: 7 } }]);
});

test("a refused connection nacks at once, saying so", () => {
  const r = relayOf({ b: "b:7000", c: "c:7000" });
  r.relayer.handlePingReq(preq("b", 1), "req:1");
  r.relayer.handlePingReq(preq("c", 2), "req:2");
  r.relayer.handleRefused("b:7000");
  assert.equal(r.sent, [{ to: "req:1", msg: { t: "nack", f: "me", s: 1, r: true } }]);
  r.clock.advance(relayTimeout(config));
  assert.equal(r.sent.map((s) => s.to), ["req:1", "req:2"], "b's relay ended; c's nacked later");
});

test(`at most ${MAX_RELAYS} relays at once; stop ends them without answering`, () => {
  const r = relayOf({ b: "b:7000" });
  for (let i = 0; i < MAX_RELAYS + 10; i++) r.relayer.handlePingReq(preq("b", i), "req:1");
  assert.is(r.pings.length, MAX_RELAYS);
  r.relayer.stop();
  r.clock.advance(relayTimeout(config) * 2);
  assert.equal(r.sent, []);
  assert.is(r.clock.pending, 0);
});

test.run();
