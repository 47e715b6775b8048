/**
 * `updateSize` and `utf8Length` count what a frame carries in UTF-8 bytes, checked against the
 * runtime's own encoder over any string (lone surrogates included: they are sent as the 3 bytes
 * of U+FFFD).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { updateSize, utf8Length } from "../../gossip/update_size.ts";
import type { Update } from "../../gossip/messages.ts";

const encoder = new TextEncoder();
const SEED = 15;

test("utf8Length equals the encoder's byte count for any string", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 64 }), (s) => {
      assert.is(utf8Length(s), encoder.encode(s).byteLength, JSON.stringify(s));
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

test("utf8Length counts a lone surrogate as 3 bytes and a pair as 4", () => {
  assert.is(utf8Length("\ud800"), 3);
  assert.is(utf8Length("a\udc00"), 4);
  assert.is(utf8Length("\ud83d\ude00"), 4);
  assert.is(utf8Length("\ud83d"), 3);
});

test("updateSize is the update's JSON in UTF-8 bytes plus its comma, the same when asked again", () => {
  const u: Update = { k: "suspect", n: "mémbre-ü", i: 3, by: "m\u20ac" };
  const bytes = encoder.encode(JSON.stringify(u)).byteLength + 1;
  assert.is(updateSize(u), bytes);
  assert.is(updateSize(u), bytes);
});

test.run();
