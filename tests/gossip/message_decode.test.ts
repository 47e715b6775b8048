import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createGossip } from "../../gossip/engine.ts";
import { simTrust } from "../../gossip/sim_trust.ts";
import { decodeMessage, encodeMessage } from "../../gossip/message_decode.ts";
import type { Message } from "../../gossip/messages.ts";
import { MemoryNetwork } from "../../gossip/memory_transport.ts";
import { createRandom } from "../../gossip/random.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import { silentLogger } from "../../lib/log.ts";

const decode = suite("decodeMessage()");
const meta = { a: "h:1", fp: "", r: "voter", si: 1, se: 2, v: "1.0", ec: 1, ed: "abcd" };

const good: Message[] = [
  { t: "ping", f: "a", s: 1, n: "b" },
  { t: "ping", f: "a", s: 1, n: "b", pb: [{ k: "alive", n: "c", i: 2, m: meta }] },
  { t: "ack", f: "b", s: 1, pb: [{ k: "suspect", n: "c", i: 2, by: "a" }] },
  { t: "nack", f: "b", s: 1, r: true },
  { t: "preq", f: "a", s: 1, n: "c", a: "h:3" },
  { t: "gossip", f: "a", pb: [{ k: "dead", n: "c", i: 2, by: "a" }, { k: "left", n: "d", i: 0 }] },
  { t: "gossip", f: "a", pb: [{ k: "left", n: "d", i: 0 }], a: true },
  {
    t: "pp",
    f: "a",
    s: 9,
    j: true,
    st: [{ k: "dead", n: "c", i: 1, m: meta }],
    x: { abcd: ["x"] },
  },
  { t: "pp", f: "a", s: 10, sh: "0123456789abcdef", rh: "fedcba9876543210" },
  { t: "pp", f: "b", s: 10, r: true, sw: true, st: [{ k: "alive", n: "b", i: 0, m: meta }] },
  { t: "pp", f: "a", s: 10, o: true, st: [{ k: "alive", n: "a", i: 3, m: meta }] },
  { t: "extq", f: "a", s: 3, d: "abcd" },
  { t: "ext", f: "b", s: 3, d: "abcd", l: ["internal:x", "y"] },
];
for (const m of good) {
  decode(`accepts a valid ${m.t} as an object, JSON text and UTF-8 bytes`, () => {
    assert.equal(decodeMessage(m), m);
    assert.equal(decodeMessage(encodeMessage(m)), m);
    assert.equal(decodeMessage(new TextEncoder().encode(encodeMessage(m))), m);
  });
}

const bad: [string, unknown][] = [
  ["not JSON", "{nope"],
  ["JSON that is not an object", "[1,2]"],
  ["null", null],
  ["a number", 42],
  ["invalid UTF-8 bytes that are not JSON", new Uint8Array([0xff, 0xfe, 0x00])],
  ["an unknown type", { t: "hello", f: "a" }],
  ["a missing sender", { t: "ping", s: 1, n: "b" }],
  ["an empty sender", { t: "ping", f: "", s: 1, n: "b" }],
  ["a negative sequence", { t: "ack", f: "a", s: -1 }],
  ["a fractional sequence", { t: "ack", f: "a", s: 1.5 }],
  ["a string sequence", { t: "ack", f: "a", s: "1" }],
  ["a ping without target", { t: "ping", f: "a", s: 1 }],
  ["piggyback that is not an array", { t: "ack", f: "a", s: 1, pb: {} }],
  ["an update of unknown kind", { t: "gossip", f: "a", pb: [{ k: "zombie", n: "c", i: 1 }] }],
  ["an alive update without metadata", { t: "gossip", f: "a", pb: [{ k: "alive", n: "c", i: 1 }] }],
  ["metadata with a wrong type", {
    t: "gossip",
    f: "a",
    pb: [{ k: "alive", n: "c", i: 1, m: { ...meta, si: "1" } }],
  }],
  ["a suspect update without accuser", {
    t: "gossip",
    f: "a",
    pb: [{ k: "suspect", n: "c", i: 1 }],
  }],
  ["an incarnation beyond 2^53", { t: "gossip", f: "a", pb: [{ k: "left", n: "c", i: 2 ** 60 }] }],
  ["an overlong name", { t: "gossip", f: "a", pb: [{ k: "left", n: "x".repeat(300), i: 1 }] }],
  ["too many updates", {
    t: "gossip",
    f: "a",
    pb: Array.from({ length: 5000 }, () => ({ k: "left", n: "c", i: 1 })),
  }],
  ["push-pull state entry with a bad state", {
    t: "pp",
    f: "a",
    s: 1,
    st: [{ k: "zombie", n: "c", i: 1, m: meta }],
  }],
  ["push-pull extension list with a number", { t: "pp", f: "a", s: 1, st: [], x: { d: [1] } }],
  ["a push-pull with neither state nor digest", { t: "pp", f: "a", s: 1 }],
  ["a push-pull whose state digest is a number", { t: "pp", f: "a", s: 1, sh: 7 }],
  ["a push-pull whose send-yours flag is a string", { t: "pp", f: "a", s: 1, st: [], sw: "y" }],
  ["an extension reply whose list is a string", { t: "ext", f: "a", s: 1, d: "x", l: "y" }],
  ["a nack whose refusal flag is a string", { t: "nack", f: "a", s: 1, r: "yes" }],
  ["an announcement flag that is not true", { t: "gossip", f: "a", pb: [], a: 1 }],
];
for (const [what, frame] of bad) {
  decode(`rejects ${what} with a reason, without throwing`, () => {
    const r = decodeMessage(frame);
    assert.type(r, "string");
  });
}
decode(
  "a frame's fields its type does not have are left out, in state entries, updates and metadata too",
  () => {
    const pad = Array.from({ length: 1000 }, () => ({}));
    const frame = {
      t: "pp",
      f: "a",
      s: 9,
      j: true,
      pad,
      st: [{ k: "alive", n: "c", i: 1, m: { ...meta, pad }, pad }],
    };
    const ping = {
      t: "ping",
      f: "a",
      s: 1,
      n: "b",
      pad,
      pb: [{ k: "alive", n: "c", i: 2, m: meta, pad }, { k: "rec", r: { any: 1 }, pad }],
    };
    const want = { t: "pp", f: "a", s: 9, j: true, st: [{ k: "alive", n: "c", i: 1, m: meta }] };
    const wantPing = {
      t: "ping",
      f: "a",
      s: 1,
      n: "b",
      pb: [{ k: "alive", n: "c", i: 2, m: meta }, { k: "rec", r: { any: 1 } }],
    };
    assert.equal(decodeMessage(JSON.stringify(frame)), want);
    assert.equal(decodeMessage(new TextEncoder().encode(JSON.stringify(frame))), want);
    assert.equal(decodeMessage(JSON.stringify(ping)), wantPing);
    // An object (an in-process frame, shared by its receivers) is handed on as it is.
    assert.is(decodeMessage(frame), frame);
  },
);

decode.run();

const engine = suite("engine and malformed frames");

engine(
  "garbage is counted and dropped; the table is untouched and the member keeps working",
  () => {
    const clock = new SimClock();
    const net = new MemoryNetwork({ clock, random: createRandom(5), frames: "json" });
    const mk = (name: string) =>
      createGossip(
        {
          clock,
          random: createRandom(name.length),
          logger: silentLogger,
          transport: net.endpoint(name, name),
          trust: simTrust(),
        },
        { name, config: { pushPullIntervalMs: 0 } },
      );
    const a = mk("a");
    const b = mk("b");
    a.start();
    b.start();
    void b.join(["a"]);
    clock.advance(2000);
    assert.is(a.member("b")?.state, "alive");
    const before = JSON.stringify(a.members());
    const evil = net.endpoint("evil");
    const frames: unknown[] = [
      "{nope",
      "[]",
      new Uint8Array([1, 2, 3]),
      { t: "gossip", f: "evil", pb: [{ k: "dead", n: "b", i: "x" }] },
      { t: "gossip", f: "evil", pb: [{ k: "alive", n: "b", i: 1 }] },
      { t: "pp", f: "evil", s: 1, st: [{ k: "alive", n: "z", i: 0, m: null }] },
      { t: "ping", f: "evil", s: -3, n: "a" },
    ];
    for (const f of frames) evil.send("a", f as object);
    clock.advance(10);
    assert.is(a.stats().malformedDropped, frames.length);
    assert.is(JSON.stringify(a.members()), before);
    clock.advance(5000);
    assert.is(a.member("b")?.state, "alive");
    assert.is(b.member("a")?.state, "alive");
    a.stop();
    b.stop();
  },
);

engine.run();
