/**
 * fast-check arbitraries for hostile gossip frames: every message type, near-valid updates and
 * state entries whose fields take the values a careless or malicious peer sends (2^53, 1e308,
 * negative and fractional numbers, strings for numbers, huge strings, forged signatures,
 * names of members and of nobody), records of every kind, and plain garbage.
 *
 * @module
 */
import fc from "fast-check";
import { MAX_INCARNATION } from "../../gossip/messages.ts";

/** Names the frames speak of: members of the fuzzed cluster, and strangers. */
export const MEMBER_NAMES = ["m0", "m1", "m2", "m3"];
const NAMES = [...MEMBER_NAMES, "j", "ghost", "", "x".repeat(300), "__proto__", "m0\u0000"];

const anyName = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

/** Numbers as peers send them: mostly small, often at or past every bound. */
export const anyNumber = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 5 }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      MAX_INCARNATION,
      MAX_INCARNATION + 1,
      2 ** 31 - 1,
      2 ** 31,
      Number.MAX_SAFE_INTEGER,
      2 ** 53,
      1e308,
      -1,
      0.5,
      -0,
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom<unknown>("1", null, true, [], {}) },
  { weight: 1, arbitrary: fc.integer() },
);

const anyString = (max: number) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.string({ maxLength: max }) },
    { weight: 1, arbitrary: fc.constant("y".repeat(max * 4)) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(42, null, ["a"]) },
  );

/** Wire metadata, usually well-formed. */
export const anyMeta = fc.record({
  a: fc.oneof(fc.constantFrom("10.0.0.1:7946", "10.0.0.2:7946"), anyString(40)),
  fp: fc.oneof(fc.constant(""), anyString(70)),
  r: fc.oneof(fc.constantFrom("member", "voter", "PENDING"), anyString(20)),
  si: anyNumber,
  se: anyNumber,
  v: fc.oneof(fc.constant(""), anyString(20)),
  ec: anyNumber,
  ed: fc.oneof(fc.constant("d".repeat(64)), anyString(70)),
}, { requiredKeys: ["a", "fp", "r", "si", "se", "v", "ec", "ed"] });

const anySig = fc.option(
  fc.oneof(fc.string({ maxLength: 90 }), fc.constant("sim.0"), fc.constant("A".repeat(300))),
  { nil: undefined },
);

/** A member update or a record update. */
export const anyUpdate: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({
    k: fc.constant("alive"),
    n: anyName,
    i: anyNumber,
    m: anyMeta,
    sg: anySig,
    sb: fc.option(anyName, { nil: undefined }),
  }, { requiredKeys: ["k", "n", "i", "m"] }),
  fc.record({ k: fc.constantFrom("suspect", "dead"), n: anyName, i: anyNumber, by: anyName }),
  fc.record({ k: fc.constant("left"), n: anyName, i: anyNumber, m: anyMeta, sg: anySig }, {
    requiredKeys: ["k", "n", "i"],
  }),
  fc.record({ k: fc.constant("rec"), r: fc.constant(null).chain(() => anyRecord) }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** A replicated record as a peer may send it. */
export const anyRecord: fc.Arbitrary<unknown> = fc.record({
  kind: fc.oneof(fc.constantFrom("member", "token", "app", "junk"), anyString(70)),
  key: fc.oneof(fc.constantFrom(...NAMES, "a".repeat(64)), anyString(20)),
  value: fc.oneof(
    fc.constant(null),
    fc.record({
      address: anyString(30),
      certificate: anyString(40),
      fingerprint: fc.oneof(fc.constant("ab".repeat(32)), anyString(70)),
      joinedAt: anyNumber,
      joining: fc.option(fc.boolean(), { nil: undefined }),
      admission: fc.option(fc.record({ by: anyName, sig: anySig }), { nil: undefined }),
      sig: anySig,
    }, { requiredKeys: ["address", "certificate", "fingerprint", "joinedAt"] }),
    fc.record({
      name: anyName,
      expiresAt: fc.oneof(fc.constant(null), anyNumber),
      createdAt: anyNumber,
    }),
    fc.jsonValue({ maxDepth: 3 }),
  ),
  version: anyNumber,
  origin: anyName,
  expiresAt: fc.option(anyNumber, { nil: undefined }),
}, { requiredKeys: ["kind", "key", "value", "version", "origin"] });

const anyEntry = fc.record({
  k: fc.constantFrom("alive", "suspect", "dead", "left", "gone"),
  n: anyName,
  i: anyNumber,
  m: anyMeta,
  sg: anySig,
  sb: fc.option(anyName, { nil: undefined }),
}, { requiredKeys: ["k", "n", "i", "m"] });

const seq = anyNumber;
const pb = fc.array(anyUpdate, { maxLength: 8 });

/** A frame: any message type, near-valid, or garbage. */
export const anyFrame: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant("gossip"), f: anyName, pb }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("ping"), f: anyName, s: seq, n: anyName, pb }, {
      requiredKeys: ["t", "f", "s", "n"],
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("ack"), f: anyName, s: seq, pb }, {
      requiredKeys: ["t", "f", "s"],
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("nack"), f: anyName, s: seq, r: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("preq"),
      f: anyName,
      s: seq,
      n: anyName,
      a: fc.oneof(fc.constantFrom("10.0.0.1:7946", "10.9.9.9:1", "nowhere:1"), anyString(30)),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("pp"),
      f: anyName,
      s: seq,
      j: fc.option(fc.boolean(), { nil: undefined }),
      r: fc.option(fc.boolean(), { nil: undefined }),
      o: fc.option(fc.boolean(), { nil: undefined }),
      sw: fc.option(fc.boolean(), { nil: undefined }),
      rw: fc.option(fc.boolean(), { nil: undefined }),
      st: fc.option(fc.array(anyEntry, { maxLength: 6 }), { nil: undefined }),
      sh: fc.option(fc.string({ maxLength: 70 }), { nil: undefined }),
      rh: fc.option(fc.string({ maxLength: 70 }), { nil: undefined }),
      rc: fc.option(fc.array(anyRecord, { maxLength: 4 }), { nil: undefined }),
      x: fc.option(
        fc.dictionary(fc.string({ maxLength: 70 }), fc.array(fc.string({ maxLength: 10 }))),
        { nil: undefined },
      ),
    }, { requiredKeys: ["t", "f", "s"] }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constantFrom("extq", "ext"),
      f: anyName,
      s: seq,
      d: fc.string({ maxLength: 70 }),
      l: fc.option(fc.array(fc.string({ maxLength: 10 })), { nil: undefined }),
    }, { requiredKeys: ["t", "f", "s", "d"] }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** A frame as the transport hands it: an object, its JSON text, broken text or bytes. */
export const anyWireFrame: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: anyFrame },
  { weight: 3, arbitrary: anyFrame.map((f) => JSON.stringify(f) ?? "null") },
  { weight: 1, arbitrary: anyFrame.map((f) => (JSON.stringify(f) ?? "").slice(0, -3)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
);

/**
 * An app record (`app`, the app's replicated records) as a hostile member sends it: keys of
 * every length and character, values near and past the size limit, versions and expiries at
 * every bound, tombstones kept too long or forever.
 */
export const anyAppRecord: fc.Arbitrary<Record<string, unknown>> = fc.record({
  kind: fc.constant("app"),
  key: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom("a", "b", "cfg/x", "k".repeat(256)) },
    { weight: 1, arbitrary: fc.constantFrom("k".repeat(257), "a\u0000", "\ud800", "") },
    { weight: 2, arbitrary: fc.string({ maxLength: 8 }).map((k) => `f/${k}`) },
  ),
  value: fc.oneof(
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    {
      weight: 2,
      arbitrary: fc.integer({ min: 4000, max: 4200 }).map((n) => "x".repeat(n)),
    },
  ),
  version: fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 4_000_000 }) },
    { weight: 1, arbitrary: anyNumber },
  ),
  origin: anyName,
  expiresAt: fc.option(
    fc.oneof(fc.integer({ min: 0, max: 8 * 24 * 3_600_000 }), anyNumber),
    { nil: undefined },
  ),
}, { requiredKeys: ["kind", "key", "value", "version", "origin"] });
