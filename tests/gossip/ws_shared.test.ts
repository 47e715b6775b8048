/**
 * The WebSocket transport's shared connections (`gossip/ws_transport.ts`, "Shared connections";
 * `gossip/link_proof.ts`): a pair of members holds one connection, frames read on it are from
 * the member that proved it, and the bounds on what a sender may make a member read and buffer
 * hold on either side of it.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { WsTransportOptions } from "../../gossip/ws_transport.ts";
import { keyPair } from "../net/_helpers.ts";
import { sleep, startMember, waitFor } from "./ws_helpers.ts";
import type { WsMember } from "./ws_helpers.ts";

interface Ctx {
  trust: Set<string>;
  /** The member table every member consults: certificate fingerprint → listening address. */
  where: Map<string, string>;
  members: WsMember[];
}

const test = suite<Ctx>("WebSocket transport: shared connections", {
  trust: new Set(),
  where: new Map(),
  members: [],
});

test.before.each(async (ctx) => {
  ctx.members = [];
  ctx.where = new Map();
  ctx.trust = new Set();
  for (const name of ["alpha", "beta", "gamma"]) ctx.trust.add((await keyPair(name)).fingerprint);
});

test.after.each(async (ctx) => {
  await Promise.all(ctx.members.map((m) => m.close()));
});

/** A member whose table knows every member started here (unless `overrides` says otherwise). */
async function member(
  ctx: Ctx,
  name: string,
  overrides: Partial<WsTransportOptions> = {},
): Promise<WsMember> {
  const m = await startMember(name, ctx.trust, {
    addressOf: (fp) => ctx.where.get(fp),
    ...overrides,
  });
  ctx.members.push(m);
  ctx.where.set(m.pair.fingerprint, overrides.address ?? m.listener.address);
  return m;
}

/** Open connections between the members, counted once each (by their diallers). */
const connections = (...ms: WsMember[]) => ms.reduce((n, m) => n + m.transport.stats().outbound, 0);

test("a pair shares one connection: the listener answers on it, as the member it proved it is", async (ctx) => {
  const a = await member(ctx, "alpha");
  const b = await member(ctx, "beta");
  a.transport.send(b.listener.address, "ping");
  await waitFor(() => b.inbox.length === 1, "alpha's frame at beta");
  b.transport.send(a.listener.address, "ack");
  await waitFor(() => a.inbox.length === 1, "beta's answer at alpha");
  assert.equal(a.inbox[0], { from: b.listener.address, frame: "ack", peer: b.pair.fingerprint });
  assert.equal(b.inbox[0], { from: a.listener.address, frame: "ping", peer: a.pair.fingerprint });
  for (let i = 0; i < 20; i++) {
    a.transport.send(b.listener.address, `a${i}`);
    b.transport.send(a.listener.address, `b${i}`);
  }
  await waitFor(() => a.inbox.length === 21 && b.inbox.length === 21, "20 more frames each way");
  assert.equal(a.inbox.slice(1).map((m) => m.frame), [...Array(20).keys()].map((i) => `b${i}`));
  const [sa, sb] = [a.transport.stats(), b.transport.stats()];
  assert.equal([sa.outbound, sa.inbound, sa.shared, sa.dialled], [1, 0, 1, 1], "alpha dialled");
  assert.equal([sb.outbound, sb.inbound, sb.shared, sb.dialled], [0, 1, 1, 0], "beta did not");
  assert.equal([sb.framesSent, sa.framesReceived, sb.dropped], [21, 21, 0]);
});

test("a member's connection is not used for another member's address, whatever it advertised", async (ctx) => {
  const a = await member(ctx, "alpha");
  const b = await member(ctx, "beta");
  // gamma advertises alpha's address; the table puts gamma at its own.
  const g = await startMember("gamma", ctx.trust, { address: a.listener.address });
  ctx.members.push(g);
  ctx.where.set(g.pair.fingerprint, g.listener.address);
  g.transport.send(b.listener.address, "from gamma");
  await waitFor(() => b.inbox.length === 1, "gamma's frame at beta");
  assert.is(b.transport.stats().shared, 1, "gamma shares its connection");
  b.transport.send(a.listener.address, "for alpha");
  await waitFor(() => a.inbox.length === 1, "beta's frame at alpha");
  assert.is(a.inbox[0].peer, b.pair.fingerprint);
  assert.is(b.transport.stats().dialled, 1, "beta dialled alpha");
  await sleep(50);
  assert.equal(g.inbox, [], "nothing for alpha reached gamma");
});

test("a member that does not share (an older one) is dialled back, and dials back, as before", async (ctx) => {
  const a = await member(ctx, "alpha");
  const old = await member(ctx, "beta", { share: false });
  // The sharing member dials the older one: no proof comes back, so nothing is read there.
  a.transport.send(old.listener.address, "to old");
  await waitFor(() => old.inbox.length === 1, "the frame at the older member");
  old.transport.send(a.listener.address, "from old");
  await waitFor(() => a.inbox.length === 1, "the older member's frame");
  assert.is(a.inbox[0].peer, old.pair.fingerprint);
  // The older member dials: it asked for no proof, so it is not sent to on its connection.
  const g = await member(ctx, "gamma", { share: false });
  g.transport.send(a.listener.address, "from old gamma");
  await waitFor(() => a.inbox.length === 2, "older gamma's frame");
  a.transport.send(g.listener.address, "to old gamma");
  await waitFor(() => g.inbox.length === 1, "the answer at older gamma");
  for (const m of [a, old, g]) assert.is(m.transport.stats().shared, 0, `${m.name} shares none`);
  assert.equal([a.transport.stats().outbound, a.transport.stats().inbound], [2, 2]);
});

test("both members dialling at once: the lower address's connection stays, the other closes, no frame lost", async (ctx) => {
  const opts = { idleCloseMs: 200, keepOpenMs: () => 60_000 };
  const a = await member(ctx, "alpha", opts);
  const b = await member(ctx, "beta", opts);
  const [lo, hi] = a.listener.address < b.listener.address ? [a, b] : [b, a];
  a.transport.send(b.listener.address, "a0");
  b.transport.send(a.listener.address, "b0");
  await waitFor(() => a.inbox.length === 1 && b.inbox.length === 1, "both first frames");
  assert.is(connections(a, b), 2, "each dialled");
  for (let i = 1; i <= 10; i++) {
    a.transport.send(b.listener.address, `a${i}`);
    b.transport.send(a.listener.address, `b${i}`);
  }
  await waitFor(() => connections(a, b) === 1, "one connection left", 3000);
  assert.is(lo.transport.stats().outbound, 1, "the lower address's dial is the one kept");
  assert.is(hi.transport.stats().outbound, 0);
  for (let i = 11; i <= 20; i++) {
    a.transport.send(b.listener.address, `a${i}`);
    b.transport.send(a.listener.address, `b${i}`);
    await sleep(20);
  }
  await waitFor(() => a.inbox.length === 21 && b.inbox.length === 21, "every frame");
  assert.equal(a.inbox.map((m) => m.frame), [...Array(21).keys()].map((i) => `b${i}`));
  assert.equal(b.inbox.map((m) => m.frame), [...Array(21).keys()].map((i) => `a${i}`));
  assert.is(a.transport.stats().dialled + b.transport.stats().dialled, 2, "no dial after");
  assert.is(connections(a, b), 1);
});

test("a listener whose shared connection is lost without a close frame dials back at once: a crashed dialler is reported refused", async (ctx) => {
  const a = await member(ctx, "alpha");
  const b = await member(ctx, "beta");
  a.transport.send(b.listener.address, "hello");
  await waitFor(() => b.inbox.length === 1, "the connection");
  b.transport.send(a.listener.address, "answer");
  await waitFor(() => a.inbox.length === 1, "the answer on it");
  assert.is(b.transport.stats().outbound, 0);
  // kill -9 of alpha as beta sees it: nothing listens any more, and the socket just closes.
  a.listener.server.close();
  await a.transport.close();
  await waitFor(() => b.refused.length === 1, "refused(alpha) without sending anything");
  assert.equal(b.refused, [a.listener.address]);
});

test("a listener that never sent on a shared connection still dials back when it is lost without a close frame", async (ctx) => {
  const a = await member(ctx, "alpha");
  const b = await member(ctx, "beta");
  a.transport.send(b.listener.address, "gossip");
  await waitFor(() => b.transport.stats().shared === 1, "the connection shared");
  a.listener.server.close();
  await a.transport.close();
  await waitFor(() => b.refused.length === 1, "refused(alpha)");
  assert.equal(b.refused, [a.listener.address]);
});

test("a connection closed by its dialler's idle close is not dialled back by its listener", async (ctx) => {
  const a = await member(ctx, "alpha", { idleCloseMs: 150 });
  const b = await member(ctx, "beta", { idleCloseMs: 150 });
  a.transport.send(b.listener.address, "one");
  await waitFor(() => b.inbox.length === 1, "the first frame");
  b.transport.send(a.listener.address, "two");
  await waitFor(() => a.inbox.length === 1, "the answer");
  await waitFor(() => b.transport.stats().inbound === 0, "the idle close", 2000);
  await sleep(200);
  assert.equal([b.transport.stats().dialled, b.refused.length], [0, 0], "beta dialled nothing");
  // Then a frame from either side opens one connection again.
  b.transport.send(a.listener.address, "three");
  await waitFor(() => a.inbox.length === 2, "a later frame");
  assert.is(connections(a, b), 1);
});

test("refreshTrust() on the dialler's side cuts a shared connection whose listener is no longer trusted", async (ctx) => {
  const a = await member(ctx, "alpha");
  const b = await member(ctx, "beta");
  a.transport.send(b.listener.address, "hello");
  await waitFor(() => b.inbox.length === 1, "the connection");
  b.transport.send(a.listener.address, "before");
  await waitFor(() => a.inbox.length === 1, "beta's frame on it");
  // beta's certificate leaves the trust set; only alpha refreshes.
  ctx.trust.delete(b.pair.fingerprint);
  a.transport.refreshTrust();
  assert.equal([a.transport.stats().outbound, a.transport.stats().shared], [0, 0]);
  await waitFor(() => b.transport.stats().inbound === 0, "beta sees the cut");
  await sleep(50);
  assert.equal(a.inbox.map((m) => m.frame), ["before"]);
});

test("redial() on the listener's side: the connection its peer dialled is cut, and the next frame dials anew", async (ctx) => {
  const a = await member(ctx, "alpha");
  const b = await member(ctx, "beta");
  a.transport.send(b.listener.address, "hello");
  await waitFor(() => b.inbox.length === 1, "the connection");
  b.transport.send(a.listener.address, "shared");
  await waitFor(() => a.inbox.length === 1, "beta's frame on alpha's connection");
  assert.is(b.transport.stats().dialled, 0, "beta sends on the connection alpha dialled");
  b.transport.redial(a.listener.address);
  assert.equal([b.transport.stats().inbound, b.transport.stats().shared], [0, 0]);
  b.transport.send(a.listener.address, "after the redial");
  await waitFor(() => a.inbox.length === 2, "beta's frame on a new connection");
  assert.is(b.transport.stats().dialled, 1, "beta dialled");
  assert.equal(a.inbox.map((m) => m.frame), ["shared", "after the redial"]);
});

test("redial() on the dialler's side: its connection is closed, and the next frame dials anew", async (ctx) => {
  const a = await member(ctx, "alpha");
  const b = await member(ctx, "beta");
  a.transport.send(b.listener.address, "hello");
  await waitFor(() => b.inbox.length === 1, "the connection");
  a.transport.redial(b.listener.address);
  assert.equal([a.transport.stats().outbound, a.transport.stats().shared], [0, 0]);
  a.transport.send(b.listener.address, "after the redial");
  await waitFor(() => b.inbox.length === 2, "alpha's frame on a new connection");
  assert.is(a.transport.stats().dialled, 2, "alpha dialled again");
  assert.equal(b.inbox.map((m) => m.frame), ["hello", "after the redial"]);
});

test("redial() keeps a connection still being dialled", async (ctx) => {
  const a = await member(ctx, "alpha");
  const b = await member(ctx, "beta");
  a.transport.send(b.listener.address, "one");
  a.transport.redial(b.listener.address);
  a.transport.send(b.listener.address, "two");
  await waitFor(() => b.inbox.length === 2, "both frames");
  assert.equal(b.inbox.map((m) => m.frame), ["one", "two"]);
  assert.is(a.transport.stats().dialled, 1);
});

test("frames read on a dialled connection count against the listener's sender budget", async (ctx) => {
  const rate = { framesPerSecond: 20, burstFrames: 20, bytesPerSecond: 1e6, burstBytes: 1e6 };
  const a = await member(ctx, "alpha", { inboundRate: rate });
  const b = await member(ctx, "beta");
  a.transport.send(b.listener.address, "hello");
  await waitFor(() => b.inbox.length === 1, "the connection");
  for (let i = 0; i < 200; i++) b.transport.send(a.listener.address, `flood ${i}`);
  assert.is(b.transport.stats().dialled, 0, "sent on the shared connection");
  await waitFor(() => a.transport.stats().rateLimited > 0, "beta limited at alpha");
  await sleep(300);
  assert.ok(a.inbox.length < 60, `at most the burst and a little more read: ${a.inbox.length}`);
  assert.ok(a.inbox.every((m) => m.peer === b.pair.fingerprint));
});

test("back-pressure drops non-reliable frames above the mark on a shared connection too", async (ctx) => {
  const mark = 256 * 1024;
  const a = await member(ctx, "alpha");
  const b = await member(ctx, "beta", { maxBufferedBytes: mark });
  a.transport.send(b.listener.address, "open");
  await waitFor(() => b.inbox.length === 1, "the connection");
  const to = a.listener.address;
  const pad = "z".repeat(64 * 1024 - 8);
  // One synchronous burst: the receiver cannot read meanwhile, so the sender's buffer fills.
  for (let i = 0; i < 600; i++) b.transport.send(to, `${i}:${pad}`);
  const dropped = b.transport.stats().dropped;
  assert.ok(dropped > 0, "some frames were dropped");
  b.transport.send(to, "reliable tail", { reliable: true });
  assert.is(b.transport.stats().dropped, dropped, "a reliable frame passes");
  const expected = 600 - dropped + 1;
  await waitFor(() => a.inbox.length === expected, `${expected} frames`, 10_000);
  assert.is(a.inbox.at(-1)!.frame, "reliable tail");
  assert.is(b.transport.stats().dialled, 0, "all on the shared connection");
});

test.run();
