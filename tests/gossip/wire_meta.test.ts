/**
 * Member metadata to its wire form and back: every field survives, a field changed is seen by
 * `sameWireMeta`, and the conversions are memoized per object (the engine compares metadata by
 * identity on its hot path).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fromWireMeta, sameWireMeta, toWireMeta } from "../../gossip/wire_meta.ts";
import type { MemberMeta } from "../../lib/cluster/membership.ts";

const meta: MemberMeta = Object.freeze({
  address: "10.0.0.1:7000",
  fingerprint: "ab".repeat(32),
  role: "voter",
  schemaInternal: 3,
  schemaExternal: 7,
  appVersion: "1.2.0",
  extensionCount: 2,
  extensionDigest: "cd".repeat(32),
});

test("metadata survives the wire form, and each conversion is memoized per object", () => {
  const wire = toWireMeta(meta);
  assert.is(toWireMeta(meta), wire);
  const back = fromWireMeta(wire);
  assert.equal({ ...back }, { ...meta });
  assert.is(fromWireMeta(wire), back);
  assert.ok(Object.isFrozen(back));
});

test("sameWireMeta tells every changed field", () => {
  const wire = toWireMeta(meta);
  assert.ok(sameWireMeta(wire, { ...wire }));
  for (const key of Object.keys(wire) as (keyof typeof wire)[]) {
    const changed = { ...wire, [key]: typeof wire[key] === "number" ? 99 : "other" };
    assert.not.ok(sameWireMeta(wire, changed), key);
  }
});

test.run();
