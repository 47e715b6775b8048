/**
 * The bound on one certificate's inbound gossip connections (`gossip/inbound_limit.ts`): which
 * connections the limit closes and when it logs, then the WebSocket transport keeping a few
 * connections per certificate: the most recently heard-from, never the new one, another
 * certificate untouched, the closings counted and logged once.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import WebSocket from "ws";
import { RATE_LOG_MS } from "../../gossip/frame_rate.ts";
import { InboundLimit, MAX_INBOUND_PER_CERTIFICATE } from "../../gossip/inbound_limit.ts";
import { keyPair } from "../net/_helpers.ts";
import { logged, openRaw, sleep, startMember, waitFor } from "./ws_helpers.ts";
import type { WsMember } from "./ws_helpers.ts";

const test = suite("inbound connections per certificate");

type Conn = { opened: number; seen: number };

test("past the bound, the least recently heard-from connections of that certificate are closed, never the new one", () => {
  const limit = new InboundLimit<Conn>(3);
  const [a, b, c, d] = [[1, 5], [2, 4], [3, 7], [8, 0]].map(([opened, seen]) => ({ opened, seen }));
  assert.equal(limit.add("x", a), []);
  assert.equal(limit.add("x", b), []);
  assert.equal(limit.add("x", c), []);
  assert.equal(limit.add("y", { opened: 9, seen: 0 }), [], "another certificate counts apart");
  assert.equal(limit.add("x", d), [b], "b was heard from least recently; d is new");
  assert.is(limit.count("x"), 3);
  limit.remove("x", b); // its close event, after the caller closed it
  assert.is(limit.count("x"), 3, "b was no longer counted");
  limit.remove("x", a);
  assert.is(limit.count("x"), 2);
  assert.is(limit.count("y"), 1);
});

test("connections nothing arrived on yet are closed first, oldest first, before any heard-from", () => {
  const limit = new InboundLimit<Conn>(3);
  const heard = { opened: 1, seen: 2 };
  const silent = [3, 4, 5, 6].map((opened) => ({ opened, seen: 0 }));
  limit.add("x", heard);
  limit.add("x", silent[0]);
  limit.add("x", silent[1]);
  assert.equal(limit.add("x", silent[2]), [silent[0]]);
  assert.equal(limit.add("x", silent[3]), [silent[1]], "the member's own connection stays");
});

test("a bound below one keeps one connection: the newest", () => {
  const limit = new InboundLimit<Conn>(0);
  const [a, b] = [{ opened: 1, seen: 9 }, { opened: 2, seen: 0 }];
  limit.add("x", a);
  assert.equal(limit.add("x", b), [a]);
  assert.is(limit.max, 1);
  assert.is(MAX_INBOUND_PER_CERTIFICATE >= 2, true, "a member dialling again needs two");
});

test("closings are logged at most once per certificate per interval, the count since the last line", () => {
  let now = 0;
  const limit = new InboundLimit<Conn>(2, () => now);
  assert.is(limit.closed("x", 3), 3, "the first closing is logged at once");
  now = 1000;
  assert.is(limit.closed("x", 2), 0);
  assert.is(limit.closed("y", 1), 1, "another certificate has its own interval");
  assert.equal(limit.due(), [], "nothing due within the interval");
  now = RATE_LOG_MS;
  assert.equal(limit.due(), [["x", 2]], "the rest, once the interval passed");
  now = 2 * RATE_LOG_MS + 1000;
  assert.equal(limit.due(), [], "nothing left: forgotten");
  assert.is(limit.closed("x", 4), 4, "a new closing after a quiet interval is logged at once");
});

interface Ctx {
  members: WsMember[];
  conns: WebSocket[];
}
const wire = suite<Ctx>("inbound connections per certificate on the WebSocket transport", {
  members: [],
  conns: [],
});
wire.after.each(async (ctx) => {
  for (const ws of ctx.conns) ws.terminate();
  await Promise.all(ctx.members.map((m) => m.close()));
  ctx.members = [];
  ctx.conns = [];
});

/** {@link openRaw}, the socket kept in `ctx` to be closed after the test. */
async function openKept(ctx: Ctx, port: number, client: string): Promise<WebSocket> {
  const ws = await openRaw(port, client);
  ctx.conns.push(ws);
  return ws;
}

wire(
  "20 connections of one certificate: the transport keeps the bound, the one that sends and the newest among them; another certificate's connection stays; one log line",
  async (ctx) => {
    const trust = new Set<string>();
    for (const name of ["alpha", "beta", "gamma"]) trust.add((await keyPair(name)).fingerprint);
    const alpha = await startMember("alpha", trust);
    ctx.members.push(alpha);
    const port = Number(alpha.listener.address.split(":").at(-1));
    const other = await openKept(ctx, port, "beta");
    const busy = await openKept(ctx, port, "gamma");
    const crowd: WebSocket[] = [];
    for (let i = 0; i < 20; i++) {
      busy.send(`busy ${i}`); // the member's own connection carries frames meanwhile
      await waitFor(() => alpha.inbox.length === i + 1, `frame ${i}`);
      crowd.push(await openKept(ctx, port, "gamma"));
    }
    const max = MAX_INBOUND_PER_CERTIFICATE;
    await waitFor(
      () => crowd.filter((ws) => ws.readyState === WebSocket.CLOSED).length === 20 - (max - 1),
      "the crowd closed",
    );
    const stats = alpha.transport.stats();
    assert.is(stats.inbound, max + 1, "the bound, and beta's");
    assert.is(stats.evicted, 20 + 1 - max);
    assert.is(busy.readyState, WebSocket.OPEN, "the connection that sends is kept");
    assert.is(other.readyState, WebSocket.OPEN, "another certificate's connection is kept");
    const open = crowd.map((ws, i) => ws.readyState === WebSocket.OPEN ? i : -1).filter((i) =>
      i >= 0
    );
    assert.equal(open, [17, 18, 19], "the newest of the silent ones");
    // Still read: the kept connections work.
    crowd[19].send("newest");
    other.send("other");
    await waitFor(() => alpha.inbox.length === 22, "frames on kept connections");
    const lines = logged(alpha, /over the certificate's limit/);
    assert.is(lines.length, 1, "one line per certificate per interval");
    assert.is(lines[0].fingerprint, (await keyPair("gamma")).fingerprint);
    assert.is(lines[0].closed, 1, "the count since the last line");
    assert.is(lines[0].level, 40, "warn");
  },
);

wire("maxInboundPerCertificate sets the bound", async (ctx) => {
  const trust = new Set([(await keyPair("gamma")).fingerprint]);
  const alpha = await startMember("alpha", trust, { maxInboundPerCertificate: 2 });
  ctx.members.push(alpha);
  const port = Number(alpha.listener.address.split(":").at(-1));
  for (let i = 0; i < 5; i++) await openKept(ctx, port, "gamma");
  await sleep(100);
  await waitFor(() => alpha.transport.stats().inbound === 2, "two kept");
  assert.is(alpha.transport.stats().evicted, 3);
});

test.run();
wire.run();
