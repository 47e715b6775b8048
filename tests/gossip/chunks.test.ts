/**
 * Full state larger than a frame: a push-pull answer is split into one-way parts of at most
 * `CHUNK_CHARS` (counted in UTF-8 bytes) and the message itself, so a large cluster's
 * anti-entropy never exceeds the WebSocket transport's frames (`MAX_FRAME_BYTES`; issue 12: a
 * state over the limit was dropped whole, and anti-entropy stopped).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig } from "../../gossip/config.ts";
import { createGossip } from "../../gossip/engine.ts";
import type { MemoryNetwork } from "../../gossip/memory_transport.ts";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { CHUNK_CHARS, MAX_FRAME_BYTES } from "../../gossip/messages.ts";
import { utf8Length } from "../../gossip/update_size.ts";
import { createRandom } from "../../gossip/random.ts";
import { createSimCluster } from "../../gossip/sim.ts";
import { simTrust } from "../../gossip/sim_trust.ts";
import { silentLogger } from "../../lib/log.ts";

const test = suite("gossip state in parts");
const lan = resolveConfig("lan");

test("state larger than a frame goes in frames of at most 256 K chars, and all of it arrives", () => {
  const c = createSimCluster({ size: 4, seed: 47 });
  // 600 records of 3 000 chars: 1.8 M chars, beyond the WebSocket transport's 384 KiB frames.
  for (let i = 0; i < 600; i++) c.members[i % 4].setRecord("blob", `b${i}`, "x".repeat(2990));
  // Each travels alone (larger than a message's budget); push-pulls carry the rest, in parts.
  const spread = c.clock.runWhileNot(
    () => c.members.every((g) => g.records("blob").length === 600),
    4 * lan.pushPullIntervalMs,
    100,
  );
  assert.ok(spread >= 0, "the records spread");
  // Every push-pull frame on the network while a newcomer joins.
  const { g, frames } = joinNewcomer(c, 99, "10.9.9.7:9");
  const sizes = frames.filter((f) => f.t === "pp").map((f) => f.chars);
  const largest = Math.max(...sizes);
  assert.ok(sizes.length >= 8, `${sizes.length} frames: the answer was split`);
  assert.ok(largest <= CHUNK_CHARS + 4096, `largest frame ${largest} chars`);
  assert.ok(
    Math.max(...frames.map((f) => f.bytes)) <= MAX_FRAME_BYTES,
    "every frame fits the WebSocket transport",
  );
  assert.is(g.records("blob").length, 600, "the newcomer holds every record");
  assert.is(g.members().length, 5);
  g.stop();
  c.stop();
});

/**
 * A newcomer (`address`, its randomness seeded with `seed`) joining `c` through its second member,
 * and every frame `c`'s network carried meanwhile: its type and its JSON's length in chars and in
 * UTF-8 bytes. The newcomer is left running: the caller looks at what it holds and stops it.
 */
function joinNewcomer(
  c: ReturnType<typeof createSimCluster>,
  seed: number,
  address: string,
): { g: ReturnType<typeof createGossip>; frames: { t: string; chars: number; bytes: number }[] } {
  const frames: { t: string; chars: number; bytes: number }[] = [];
  const net = c.net as MemoryNetwork & { send: MemoryNetwork["send"] };
  const send = net.send;
  net.send = function (from, to, frame) {
    const json = JSON.stringify(frame);
    const t = String((frame as { t?: string }).t);
    frames.push({ t, chars: json.length, bytes: Buffer.byteLength(json) });
    return send.call(this, from, to, frame);
  };
  const g = createGossip(
    {
      clock: c.clock,
      random: createRandom(seed),
      logger: silentLogger,
      transport: c.net.endpoint(address, "newcomer"),
      trust: simTrust(),
    },
    { name: "newcomer" },
  );
  g.start();
  void g.join([c.addresses[1]]);
  c.clock.advance(2000);
  net.send = send;
  return { g, frames };
}

test("records of 3-byte characters: every frame stays within MAX_FRAME_BYTES (chunks are counted in bytes)", () => {
  const c = createSimCluster({ size: 4, seed: 48 });
  // 400 records of 1 365 euro signs: 4 095 bytes each, 1.6 MB in all. Chunks counted in chars
  // (256 Ki chars) took 768 KiB: past the transport's frame bound, dropped by the sender.
  for (let i = 0; i < 400; i++) c.members[i % 4].setRecord("blob", `b${i}`, "€".repeat(1365));
  const spread = c.clock.runWhileNot(
    () => c.members.every((g) => g.records("blob").length === 400),
    4 * lan.pushPullIntervalMs,
    100,
  );
  assert.ok(spread >= 0, "the records spread");
  const { g, frames } = joinNewcomer(c, 98, "10.9.9.8:9");
  g.stop();
  const pp = frames.filter((f) => f.t === "pp");
  assert.ok(pp.length >= 6, `${pp.length} push-pull frames: the answer was split`);
  const largest = Math.max(...frames.map((f) => f.bytes));
  assert.ok(largest <= CHUNK_CHARS + 8192, `largest frame ${largest} bytes`);
  assert.ok(largest <= MAX_FRAME_BYTES, `largest frame ${largest} bytes`);
  c.stop();
});

test("utf8Length is the UTF-8 length of any string, lone surrogates as their replacement", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (s) => {
      assert.is(utf8Length(s), Buffer.byteLength(s, "utf8"));
    }),
    { numRuns: 500 },
  );
  assert.is(utf8Length("\ud800"), 3);
  assert.is(utf8Length("a\ud83d\ude00"), 5);
});

test.run();
