import { suite } from "uvu";
import * as assert from "uvu/assert";
import { BroadcastQueue } from "../../gossip/broadcast.ts";
import { updateSize } from "../../gossip/update_size.ts";
import type { Update } from "../../gossip/messages.ts";

const test = suite("BroadcastQueue");
const suspect = (n: string, i = 0): Update => ({ k: "suspect", n, i, by: "x" });

test("each update is sent at most `limit` times", () => {
  const q = new BroadcastQueue();
  q.queue("a", suspect("a"));
  for (let i = 0; i < 3; i++) assert.equal(q.take(1400, 3), [suspect("a")]);
  assert.equal(q.take(1400, 3), []);
  assert.is(q.size, 0);
});

test("a departure (dead or left) and a record are sent twice `limit` times", () => {
  const q = new BroadcastQueue();
  const dead: Update = { k: "dead", n: "a", i: 0, by: "x" };
  const gone: Update = { k: "left", n: "b", i: 0 };
  const rec: Update = {
    k: "rec",
    r: { kind: "member", key: "d", value: { address: "d:1" }, version: 1, origin: "d" },
  };
  q.queue("a", dead);
  q.queue("b", gone);
  q.queue("c", suspect("c"));
  q.queue("\u0000member\u0000d", rec);
  const counts = new Map<string, number>();
  for (let i = 0; i < 10; i++) {
    for (const u of q.take(1400, 3)) {
      const name = u.k === "rec" ? "record" : u.n;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
  }
  assert.equal(Object.fromEntries(counts), { a: 6, b: 6, c: 3, record: 6 });
  assert.is(q.size, 0);
});

test("an explicit weight multiplies the transmissions of any update", () => {
  const q = new BroadcastQueue();
  q.queue("a", suspect("a"), 2);
  let sent = 0;
  for (let i = 0; i < 10; i++) sent += q.take(1400, 3).length;
  assert.is(sent, 6);
});

test("a newer update about a member replaces the queued one", () => {
  const q = new BroadcastQueue();
  const old = suspect("a", 1);
  q.queue("a", old);
  q.take(1400, 10);
  const newer = suspect("a", 2);
  q.queue("a", newer);
  assert.is(q.size, 1);
  assert.equal(q.take(1400, 10), [newer]);
});

test("fewest transmissions first, newest first among equals", () => {
  const q = new BroadcastQueue();
  const [a, b, c] = [suspect("a"), suspect("b"), suspect("c")];
  q.queue("a", a);
  q.queue("b", b);
  const one = updateSize(a);
  assert.equal(q.take(one, 10), [b], "newest of the never-sent");
  q.queue("c", c);
  assert.equal(q.take(one, 10), [c]);
  assert.equal(q.take(one, 10), [a], "a was never sent, c and b once");
  assert.equal(q.take(3 * one, 10), [c, b, a]);
});

test("respects the byte budget and skips what does not fit", () => {
  const q = new BroadcastQueue();
  const small = suspect("s");
  const big: Update = {
    k: "alive",
    n: "big",
    i: 0,
    m: { a: "x".repeat(200), fp: "", r: "", si: 0, se: 0, v: "", ec: 0, ed: "" },
  };
  q.queue("s", small);
  q.queue("big", big);
  assert.equal(q.take(updateSize(small) + 5, 10), [small]);
  assert.equal(q.take(updateSize(big), 10), [big]);
  assert.equal(q.take(0, 10), []);
});

test("with `oversize`, an update above the whole budget leaves alone, never with others", () => {
  const q = new BroadcastQueue();
  const rec: Update = {
    k: "rec",
    r: { kind: "member", key: "m1", value: "p".repeat(3000), version: 1, origin: "m1" },
  };
  const [a, b] = [suspect("a"), suspect("b")];
  q.queue("a", a);
  q.queue("\u0000member\u0000m1", rec);
  q.queue("b", b);
  assert.equal(q.take(1000, 10), [b, a], "never on a budgeted message");
  assert.equal(q.take(1000, 10, { oversize: true }), [rec], "alone, as the first pick");
  assert.equal(q.take(1000, 10, { oversize: true }), [b, a], "not added after other picks");
  assert.equal(q.take(1000, 10, { oversize: true }), [rec]);
});

test("a copy sent to the member an update is about does not count towards the limit", () => {
  const q = new BroadcastQueue();
  const s = suspect("c");
  q.queue("c", s);
  // Told to the suspect twice (its own limit): the others still get `limit` copies.
  assert.equal(q.take(1400, 2, { recipient: "c" }), [s]);
  assert.equal(q.take(1400, 2, { recipient: "c" }), [s]);
  assert.equal(q.take(1400, 2, { recipient: "c" }), [], "no more copies to its subject");
  assert.is(q.size, 1, "still queued for the others");
  assert.equal(q.take(1400, 2, { recipient: "a" }), [s]);
  assert.equal(q.take(1400, 2, { recipient: "c" }), []);
  assert.equal(q.take(1400, 2, { recipient: "b" }), [s]);
  assert.is(q.size, 0);
  assert.equal(q.take(1400, 2, { recipient: "a" }), []);
});

test("stays correct through many replacements (stale entries compacted)", () => {
  const q = new BroadcastQueue();
  for (let i = 0; i < 500; i++) q.queue(`m${i % 50}`, suspect(`m${i % 50}`, i));
  assert.is(q.size, 50);
  const got = q.take(1_000_000, 1);
  assert.is(got.length, 50);
  assert.ok(got.every((u) => u.k === "suspect" && u.i >= 450));
  assert.is(q.size, 0);
});

test.run();
