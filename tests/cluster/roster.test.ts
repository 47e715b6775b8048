/**
 * The roster as trust reads it: a join still pending whose admitting member was removed is not
 * trusted; a completed one stays until its own removal. And the canonical JSON signatures
 * cover, the same whatever the key order.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { RecordStore, ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { canonicalJson, rosterOf } from "../../lib/cluster/roster.ts";
import { type RosterKeys, rosterRecordProblem } from "../../lib/cluster/roster_rules.ts";
import { pemDigest } from "../../lib/cluster/roster_trust.ts";
import { fingerprint } from "../../lib/net/certificates.ts";
import { keyPair } from "../net/_helpers.ts";

const test = suite("roster");

const entry = (by: string, joining?: boolean) => ({
  address: "10.0.0.1:7443",
  certificate: "PEM",
  fingerprint: "ab".repeat(32),
  joinedAt: 1,
  ...(joining ? { joining: true } : {}),
  admission: { by, sig: "s" },
});

function store(values: Record<string, unknown>): RecordStore {
  const records: ReplicatedRecord[] = Object.entries(values).map(([key, value]) => ({
    kind: "member",
    key,
    value: value as ReplicatedRecord["value"],
    version: 1,
    origin: key,
  }));
  return {
    setRecord: () => {
      throw new Error("read-only");
    },
    record: (kind, key) => records.find((r) => r.kind === kind && r.key === key),
    records: (kind) => records.filter((r) => r.kind === kind),
  };
}

test("a pending join admitted by a removed member is not trusted; a completed one is", () => {
  const roster = rosterOf(store({
    m1: entry("m1"),
    m2: null, // removed
    ghost: entry("m2", true), // admitted by m2, never completed
    done: entry("m2"), // admitted by m2, completed
    pending: entry("m1", true), // admitted by m1, still joining
  }));
  assert.equal([...roster.keys()].sort(), ["done", "m1", "pending"]);
});

test("a pending join admitted by an earlier incarnation of its admitting member is not trusted", () => {
  const again = { ...entry("m2"), joinedAt: 10, admission: { by: "m2", sig: "s", after: 5 } };
  const roster = rosterOf(store({
    m1: entry("m1"),
    m2: again, // removed at 5, admitted again at 10
    before: { ...entry("m2", true), joinedAt: 4 }, // admitted by the removed m2, pending
    since: { ...entry("m2", true), joinedAt: 11 }, // admitted by m2 as it is now
  }));
  assert.equal([...roster.keys()].sort(), ["m1", "m2", "since"]);
});

test("an address a record of an earlier release holds reads in its one spelling; the record is kept", () => {
  const records = store({
    m1: { ...entry("m1"), address: "LOCALHOST:09101" },
    m2: { ...entry("m1"), address: "[::ffff:127.0.0.1]:9102" },
    m3: entry("m1"),
  });
  const roster = rosterOf(records);
  assert.equal([...roster.values()].map((e) => e.address), [
    "localhost:9101",
    "127.0.0.1:9102",
    "10.0.0.1:7443",
  ]);
  assert.is(
    (records.record("member", "m1")!.value as { address: string }).address,
    "LOCALHOST:09101",
  );
});

test("canonical JSON sorts keys at every level", () => {
  assert.is(
    canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: "x" } }),
    canonicalJson({
      a: { c: "x", d: [2, { e: 0, f: 1 }] },
      b: 1,
    }),
  );
  assert.is(canonicalJson({ b: 1, a: null }), '{"a":null,"b":1}');
});

test("a record from a trusted source has its certificate's digest checked, without a parse", () => {
  const calls = { parsed: 0, digested: 0 };
  const keys: RosterKeys = {
    certificatesOf: () => [],
    fingerprintOf: () => (calls.parsed++, "ab".repeat(32)),
    digestOf: (pem) => (calls.digested++, pem === "PEM" ? "ab".repeat(32) : undefined),
    verify: () => false,
    liveCount: () => 0,
    now: () => 0,
    appUsage: () => ({ keys: 0, chars: 0 }),
  };
  const record = (key: string, value: unknown): ReplicatedRecord => ({
    kind: "member",
    key,
    value: value as ReplicatedRecord["value"],
    version: 1,
    origin: "m1",
  });
  // A joiner taking in the admitting member's view of N members: N digests, no X.509 parse.
  for (let i = 0; i < 50; i++) {
    assert.is(rosterRecordProblem(record(`m${i}`, entry("m1")), undefined, true, keys), undefined);
  }
  assert.equal(calls, { parsed: 0, digested: 50 });
  assert.is(
    rosterRecordProblem(
      record("m9", { ...entry("m1"), certificate: "OTHER" }),
      undefined,
      true,
      keys,
    ),
    "fingerprint: does not match the certificate",
  );
  // From the network, the certificate is parsed as before.
  rosterRecordProblem(record("m9", entry("m1")), undefined, false, keys);
  assert.is(calls.parsed, 1);
});

test("a certificate's digest is its fingerprint, in every PEM form the parse takes", async () => {
  const { cert } = await keyPair("m1");
  assert.is(pemDigest(cert), fingerprint(cert));
  const fresh = (await keyPair("m2")).cert;
  const crlf = fresh.replace(/\n/g, "\r\n");
  assert.is(pemDigest(crlf), fingerprint(fresh), "CRLF lines");
  assert.is(pemDigest(fresh.trim()), fingerprint(fresh), "no final newline");
  assert.is(
    pemDigest("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")?.length,
    64,
  );
  assert.is(pemDigest("not a certificate"), undefined);
});

test.run();
