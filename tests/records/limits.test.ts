/**
 * The check every member applies to an app record it receives (`appRecordProblem`), at each
 * bound: keys, expiries of values and tombstones, the key budget and the value budget. What a
 * member refuses here, its own API refuses before writing (tests/records/records.test.ts).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { appRecordProblem, keyProblem, RECORDS_LIMITS, usageOf } from "../../lib/records/limits.ts";

const test = suite("app record rules");
const L = RECORDS_LIMITS;

const rec = (over: Partial<ReplicatedRecord> = {}): ReplicatedRecord => ({
  kind: "app",
  key: "k",
  value: "v",
  version: 1000,
  origin: "m1",
  ...over,
});
const empty = { keys: 0, chars: 0 };

test("keys: 1 to 256 printable characters", () => {
  assert.is(keyProblem("a"), undefined);
  assert.is(keyProblem("é/ü/日本/🙂"), undefined);
  assert.is(keyProblem("k".repeat(L.keyChars)), undefined);
  assert.match(keyProblem("k".repeat(L.keyChars + 1))!, /longer than 256/);
  assert.match(keyProblem("")!, /empty/);
  for (const bad of ["a\u0000", "\n", "a\u007f", "\ud800", "x\udc00"]) {
    assert.match(keyProblem(bad)!, /control characters and lone surrogates/, JSON.stringify(bad));
  }
  assert.ok(appRecordProblem(rec({ key: "a\tb" }), undefined, empty));
});

test("a value never expires; a tombstone expires within 7 days of its version", () => {
  assert.is(appRecordProblem(rec(), undefined, empty), undefined);
  assert.match(appRecordProblem(rec({ expiresAt: 5000 }), undefined, empty)!, /do not expire/);
  const tomb = rec({ value: null, expiresAt: 1000 + L.tombstoneMs });
  assert.is(appRecordProblem(tomb, undefined, empty), undefined);
  assert.ok(appRecordProblem({ ...tomb, expiresAt: 1001 + L.tombstoneMs }, undefined, empty));
  assert.ok(appRecordProblem(rec({ value: null }), undefined, empty), "a tombstone forever");
});

test("the key budget refuses a new key when full, never a change of a held one", () => {
  const full = { keys: L.maxKeys, chars: 0 };
  assert.match(appRecordProblem(rec(), undefined, full)!, /budget: 1024 keys/);
  assert.is(appRecordProblem(rec({ version: 2000 }), rec(), full), undefined);
  assert.is(appRecordProblem(rec(), undefined, { keys: L.maxKeys - 1, chars: 0 }), undefined);
});

test("the value budget counts JSON characters, a replaced value's own included", () => {
  const big = "x".repeat(L.valueChars - 2);
  const held = rec({ value: big });
  assert.is(usageOf([held, rec({ key: "t", value: null })]).chars, L.valueChars);
  const nearly = { keys: 10, chars: L.totalChars - 10 };
  assert.is(appRecordProblem(rec({ value: "12345678" }), undefined, nearly), undefined);
  assert.match(
    appRecordProblem(rec({ value: "123456789" }), undefined, nearly)!,
    /budget: values would take 262145/,
  );
  // Replacing a 4096-character value by another one of the same size fits at the limit.
  const atLimit = { keys: 64, chars: L.totalChars };
  assert.is(appRecordProblem(rec({ value: big, version: 2000 }), held, atLimit), undefined);
  assert.is(appRecordProblem(rec({ value: null, expiresAt: 2000 }), held, atLimit), undefined);
});

test.run();
