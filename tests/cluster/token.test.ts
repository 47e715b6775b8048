import { Buffer } from "node:buffer";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  decodeToken,
  encodeToken,
  hashSecret,
  newTokenSecret,
  parseDuration,
  sameHash,
} from "../../lib/cluster/token.ts";

const test = suite("join tokens");
const FP = "ab".repeat(32);

test("a token round-trips through base64 JSON with MicroCluster's fields", () => {
  const token = { secret: newTokenSecret(), fingerprint: FP, join_addresses: ["127.0.0.1:9000"] };
  const text = encodeToken(token);
  assert.equal(JSON.parse(Buffer.from(text, "base64").toString()), token);
  assert.equal(decodeToken(text), token);
});

test("decodeToken() reads the addresses a member of an earlier release issued in their one spelling", () => {
  const stored = [
    "127.0.0.1:09101",
    "LOCALHOST:9102",
    "127.000.000.001:9103",
    "[::ffff:127.0.0.1]:9104",
  ];
  const text = encodeToken({ secret: newTokenSecret(), fingerprint: FP, join_addresses: stored });
  const want = ["127.0.0.1:9101", "localhost:9102", "127.0.0.1:9103", "127.0.0.1:9104"];
  assert.equal(decodeToken(text).join_addresses, want);
  const zone = encodeToken({
    secret: newTokenSecret(),
    fingerprint: FP,
    join_addresses: ["[fe80::1%lo]:1"],
  });
  assert.throws(() => decodeToken(zone), /join_addresses\.0 host must not have a zone index/);
});

test("newTokenSecret() gives 64 hex digits, different every time", () => {
  const a = newTokenSecret();
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.is.not(a, newTokenSecret());
});

test("hashSecret() is SHA-256 hex and sameHash() compares", () => {
  const h = hashSecret("x");
  assert.is(h, "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
  assert.ok(sameHash(h, hashSecret("x")));
  assert.not.ok(sameHash(h, hashSecret("y")));
  assert.not.ok(sameHash(h, "short"));
});

test("decodeToken() names what is wrong and never echoes the secret", () => {
  const secret = "c".repeat(64);
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64");
  const cases: [string, RegExp][] = [
    ["not base64!", /not base64/],
    [Buffer.from("{nope").toString("base64"), /does not decode to JSON/],
    [enc({ secret: "x", fingerprint: FP, join_addresses: ["a:1"] }), /secret must be 64 hex/],
    [enc({ secret, fingerprint: "zz", join_addresses: ["a:1"] }), /fingerprint must be/],
    [enc({ secret, fingerprint: FP, join_addresses: [] }), /at least one address/],
    [enc({ secret, fingerprint: FP, join_addresses: ["nope"] }), /join_addresses.0 must be/],
  ];
  for (const [text, message] of cases) {
    try {
      decodeToken(text);
      assert.unreachable(String(message));
    } catch (err) {
      assert.match((err as Error).message, message);
      assert.not.match((err as Error).message, secret);
    }
  }
});

test("parseDuration() reads Go-style durations and days", () => {
  assert.is(parseDuration("0"), 0);
  assert.is(parseDuration("90s"), 90_000);
  assert.is(parseDuration("1h30m"), 5_400_000);
  assert.is(parseDuration("2d"), 172_800_000);
  assert.is(parseDuration("250ms"), 250);
  for (const bad of ["", "3", "h", "3x", "1h-2m", "-1h"]) {
    assert.throws(() => parseDuration(bad), /expected a duration/, bad);
  }
});

test.run();
