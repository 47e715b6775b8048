/**
 * The contract every gossip {@link Transport} must honour, as one uvu suite: delivery with the
 * sender's address, replies, no loss on a quiet network, large reliable frames, refusals as
 * positive evidence, and silence (never an exception) after close.
 *
 * A transport's test file calls {@link runTransportContract} with a factory for a connected
 * pair; the in-memory network and the WebSocket transport both run it.
 *
 * @module
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Frame, Transport } from "../../lib/cluster/transport.ts";

/** Two endpoints that can reach each other, plus the means to let time pass. */
export interface TransportPair {
  readonly a: Transport;
  readonly b: Transport;
  /** An address where nothing listens (sends there must be reported `refused`). */
  readonly deadAddress: string;
  /** The identity `b` must be told `a`'s frames come from (`TransportHandlers.message`'s `peer`). */
  readonly aIdentity: string;
  /** Lets in-flight frames arrive (advances a simulated clock, or waits on real sockets). */
  settle(): Promise<void>;
  /**
   * Crashes `b` like `kill -9`: its transport and whatever listens at its address go away, so
   * a later dial there is refused.
   */
  crashB(): Promise<void>;
  /** Releases everything. */
  close(): Promise<void>;
}

const textDecoder = new TextDecoder();

/** Normalizes a received frame to a plain value (transports may deliver objects or JSON). */
export function frameValue(frame: Frame): unknown {
  if (typeof frame === "string") return JSON.parse(frame);
  if (frame instanceof Uint8Array) return JSON.parse(textDecoder.decode(frame));
  return frame;
}

interface Received {
  from: string;
  value: unknown;
  peer: string | undefined;
}

function collect(t: Transport): { got: Received[]; refused: string[] } {
  const got: Received[] = [];
  const refused: string[] = [];
  t.listen({
    message: (from, frame, peer) => got.push({ from, value: frameValue(frame), peer }),
    refused: (to) => refused.push(to),
  });
  return { got, refused };
}

/** Registers and runs the contract suite for one transport. */
export function runTransportContract(name: string, makePair: () => Promise<TransportPair>): void {
  const test = suite(`transport contract: ${name}`);

  test("delivers an object frame with the sender's address", async () => {
    const p = await makePair();
    try {
      const rb = collect(p.b);
      collect(p.a);
      p.a.send(p.b.address, { t: "ping", f: "a", s: 1, n: "b" });
      await p.settle();
      assert.is(rb.got.length, 1);
      assert.is(rb.got[0].from, p.a.address);
      assert.equal(rb.got[0].value, { t: "ping", f: "a", s: 1, n: "b" });
      assert.is(rb.got[0].peer, p.aIdentity, "the sender's authenticated identity");
    } finally {
      await p.close();
    }
  });

  test("a reply to `from` reaches the sender", async () => {
    const p = await makePair();
    try {
      const ra = collect(p.a);
      p.b.listen({
        message: (from) => p.b.send(from, { t: "ack", f: "b", s: 7 }),
        refused: () => {},
      });
      p.a.send(p.b.address, { t: "ping", f: "a", s: 7, n: "b" });
      await p.settle();
      await p.settle();
      assert.equal(ra.got.map((g) => g.value), [{ t: "ack", f: "b", s: 7 }]);
      assert.is(ra.got[0].from, p.b.address);
    } finally {
      await p.close();
    }
  });

  test("a burst of frames all arrive on a quiet network", async () => {
    const p = await makePair();
    try {
      const rb = collect(p.b);
      collect(p.a);
      for (let i = 0; i < 200; i++) p.a.send(p.b.address, { t: "gossip", f: "a", pb: [], i });
      await p.settle();
      const seen = rb.got.map((g) => (g.value as { i: number }).i).sort((x, y) => x - y);
      assert.equal(seen, Array.from({ length: 200 }, (_, i) => i));
    } finally {
      await p.close();
    }
  });

  test("a large reliable frame arrives intact", async () => {
    const p = await makePair();
    try {
      const rb = collect(p.b);
      collect(p.a);
      const st = Array.from({ length: 2000 }, (_, i) => ({ n: `member-${i}`, i, k: "alive" }));
      p.a.send(p.b.address, { t: "pp", f: "a", s: 1, st }, { reliable: true });
      await p.settle();
      assert.is(rb.got.length, 1);
      assert.equal((rb.got[0].value as { st: unknown[] }).st, st);
    } finally {
      await p.close();
    }
  });

  test("a send where nothing listens is reported as refused, never thrown", async () => {
    const p = await makePair();
    try {
      const ra = collect(p.a);
      p.a.send(p.deadAddress, { t: "ping", f: "a", s: 1, n: "x" });
      await p.settle();
      await p.settle();
      assert.ok(ra.refused.includes(p.deadAddress), `refused: ${ra.refused.join(", ")}`);
      assert.is(ra.got.length, 0);
    } finally {
      await p.close();
    }
  });

  test("after the peer crashes, later sends to it are reported as refused", async () => {
    const p = await makePair();
    try {
      const ra = collect(p.a);
      const rb = collect(p.b);
      p.a.send(p.b.address, { t: "ping", f: "a", s: 1, n: "b" });
      await p.settle();
      assert.is(rb.got.length, 1, "the connection works before the crash");
      await p.crashB();
      await p.settle();
      // The first send may still leave on a connection whose end is not yet noticed; the
      // engine probes again, and one of the next sends must come back refused.
      for (let i = 0; i < 3 && !ra.refused.includes(p.b.address); i++) {
        p.a.send(p.b.address, { t: "ping", f: "a", s: 2 + i, n: "b" });
        await p.settle();
      }
      assert.ok(ra.refused.includes(p.b.address), `refused: ${ra.refused.join(", ")}`);
      assert.is(rb.got.length, 1);
    } finally {
      await p.close();
    }
  });

  test("an unencodable frame is dropped without throwing; the next one arrives", async () => {
    const p = await makePair();
    try {
      const rb = collect(p.b);
      collect(p.a);
      const cyclic: Record<string, unknown> = { t: "gossip", f: "a" };
      cyclic.self = cyclic;
      p.a.send(p.b.address, cyclic);
      p.a.send(p.b.address, { t: "gossip", f: "a", big: 1n } as unknown as object);
      p.a.send(p.b.address, { t: "gossip", f: "a", pb: [], after: true });
      await p.settle();
      const after = rb.got.filter((g) => (g.value as { after?: boolean }).after === true);
      assert.is(after.length, 1);
    } finally {
      await p.close();
    }
  });

  test("after close, sends are dropped silently and nothing is delivered", async () => {
    const p = await makePair();
    try {
      const rb = collect(p.b);
      collect(p.a);
      await p.b.close();
      p.b.send(p.a.address, { t: "gossip", f: "b", pb: [] });
      p.a.send(p.b.address, { t: "gossip", f: "a", pb: [] });
      await p.settle();
      assert.is(rb.got.length, 0);
      await p.a.close();
      p.a.send(p.b.address, { t: "gossip", f: "a", pb: [] });
    } finally {
      await p.close();
    }
  });

  test.run();
}
