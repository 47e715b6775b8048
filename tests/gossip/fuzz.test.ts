/**
 * Property tests (fast-check, seeded, replayable: a failure prints its seed and path) of what
 * peers send: frames through the decoder, frames through running engines, records through the
 * roster's write rules.
 *
 * The member table's invariants, checked after every frame:
 * 1. nothing escapes the engine: no error is logged, no timer throws;
 * 2. every incarnation is an integer in [0, 2^48], and an honest member's own incarnation grows
 *    by at most one per update the adversary sent (a refutation per accusation);
 * 3. every entry is a member (the trust says it joined) or the local member itself;
 * 4. the local member is `alive` in its own table while it runs;
 * 5. the table holds at most the members there are (and never more than `maxMembers`);
 * 6. no member holds another honest member's metadata other than that member's own;
 * 7. the record table holds at most `maxRecords`, no version more than an hour ahead.
 * And after the adversary stops: every honest member sees every other alive again.
 */
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig } from "../../gossip/config.ts";
import { LIMITS, MAX_INCARNATION } from "../../gossip/messages.ts";
import { decodeMessage } from "../../gossip/message_decode.ts";
import { MAX_VERSION_AHEAD_MS } from "../../gossip/record_intake.ts";
import { createSimCluster, type SimCluster } from "../../gossip/sim.ts";
import { simTrust } from "../../gossip/sim_trust.ts";
import type { ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import type { Frame } from "../../lib/cluster/transport.ts";
import { type RosterKeys, rosterRecordProblem } from "../../lib/cluster/roster_rules.ts";
import type { Logger } from "../../lib/log.ts";
import { anyAppRecord, anyFrame, anyRecord, anyWireFrame, MEMBER_NAMES } from "./fuzz_frames.ts";
import { APP_RECORD, keyProblem, RECORDS_LIMITS, usageOf } from "../../lib/records/limits.ts";
import { adversary, createRosterCluster } from "./roster_fixture.ts";

const test = suite("gossip fuzzing");
const lan = resolveConfig("lan");

/** Seeds of the properties below (change one to explore further; keep failures as tests). */
const SEEDS = {
  decoder: 1201,
  roundTrip: 1202,
  engine: 1203,
  roster: 1204,
  rosterEngine: 1205,
  appRecords: 1206,
};

const isInc = (v: unknown) =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_INCARNATION;

test("the decoder never throws, and what it accepts is within every bound", () => {
  fc.assert(
    fc.property(anyWireFrame, (frame) => {
      const msg = decodeMessage(frame);
      if (typeof msg === "string") return true;
      const m = msg as unknown as Record<string, unknown>;
      const pb = (m.pb ?? []) as Record<string, unknown>[];
      assert.ok(pb.length <= LIMITS.updates);
      for (const u of pb) if (u.k !== "rec") assert.ok(isInc(u.i), `incarnation ${u.i}`);
      const st = (m.st ?? []) as Record<string, unknown>[];
      assert.ok(st.length <= LIMITS.state);
      for (const e of st) {
        assert.ok(isInc(e.i));
        const meta = e.m as Record<string, number>;
        assert.ok(meta.si <= 2 ** 31 - 1 && meta.se <= 2 ** 31 - 1);
      }
      return true;
    }),
    { seed: SEEDS.decoder, numRuns: 5000 },
  );
});

/** Whether every field of `kept` (at any depth) is in `sent` with the same value. */
function within(kept: unknown, sent: unknown): boolean {
  if (typeof kept !== "object" || kept === null) return Object.is(kept, sent);
  if (typeof sent !== "object" || sent === null) return false;
  if (Array.isArray(kept) !== Array.isArray(sent)) return false;
  if (Array.isArray(kept) && kept.length !== (sent as unknown[]).length) return false;
  const s = sent as Record<string, unknown>;
  return Object.entries(kept).every(([k, v]) => k in s && within(v, s[k]));
}

test("a valid message survives JSON and the decoder: its fields unchanged, others left out, and decoded again the same", () => {
  fc.assert(
    fc.property(anyFrame, (frame) => {
      const msg = decodeMessage(frame);
      if (typeof msg === "string") return true;
      const sent = JSON.parse(JSON.stringify(msg));
      const back = decodeMessage(JSON.stringify(msg));
      if (typeof back === "string") throw new Error(`valid, then not: ${back}`);
      assert.ok(within(back, sent), "a field changed on the way");
      assert.equal(decodeMessage(JSON.stringify(back)), back);
      return true;
    }),
    { seed: SEEDS.roundTrip, numRuns: 3000 },
  );
});

/** A logger that counts error lines (the engine logs what it catches). */
function countingLogger(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  const logger: Logger = {
    level: 0,
    debug() {},
    info() {},
    warn() {},
    error: (msg: string, fields?: Record<string, unknown>) =>
      void errors.push(`${msg} ${String(fields?.err ?? "")}`),
    child: () => logger,
  };
  return { logger, errors };
}

const HONEST = [0, 2, 3]; // m1's certificate is the adversary's

/** Invariants 2 to 7 on every running member of `c`. */
function checkInvariants(c: SimCluster, sent: number): void {
  for (const i of HONEST) {
    const g = c.members[i];
    const all = g.members();
    assert.ok(all.length <= MEMBER_NAMES.length, `m${i} holds ${all.length} entries`);
    for (const e of all) {
      assert.ok(isInc(e.incarnation), `m${i}: ${e.name} at ${e.incarnation}`);
      assert.ok(MEMBER_NAMES.includes(e.name), `m${i} holds a non-member: ${e.name}`);
    }
    assert.is(g.stateOf(`m${i}`), "alive", `m${i} in its own table`);
    assert.ok(g.incarnation <= sent, `m${i} at incarnation ${g.incarnation} after ${sent} updates`);
    for (const j of HONEST) {
      const meta = g.member(`m${j}`)?.meta;
      if (!meta) continue;
      assert.is(meta.schemaInternal, 7, `m${j}'s schema at m${i}`);
      assert.is(meta.appVersion, `v${j}`, `m${j}'s app version at m${i}`);
      assert.is(meta.address, c.addresses[j], `m${j}'s address at m${i}`);
    }
    const now = c.clock.now();
    let records = 0;
    for (const kind of ["member", "token", "junk", ""]) {
      for (const r of g.records(kind)) {
        records++;
        assert.ok(r.version <= now + MAX_VERSION_AHEAD_MS, "a record too far ahead");
      }
    }
    assert.ok(g.stats().records <= lan.maxRecords && records <= lan.maxRecords);
  }
}

test("hostile frames from a member's certificate break no invariant of the member table", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 ** 30 }),
      fc.array(
        fc.tuple(
          anyWireFrame,
          fc.integer({ min: 0, max: 3000 }),
          fc.boolean(),
          fc.integer({ min: 1, max: 7 }),
        ),
        {
          minLength: 1,
          maxLength: 12,
        },
      ),
      (seed, frames) => {
        const { logger, errors } = countingLogger();
        const c = createSimCluster({
          size: 4,
          seed,
          form: "restore",
          logger,
          trust: () => simTrust({ isMember: (n) => MEMBER_NAMES.includes(n) }),
          meta: (i) => ({ schemaInternal: 7, appVersion: `v${i}` }),
        });
        c.clock.onError = (err) => void errors.push(`timer: ${err}`);
        // The adversary speaks with m1's identity (first-hand for m1), from m1's address or not.
        c.crash(1);
        const evil = c.net.endpoint(c.addresses[1], "m1");
        evil.listen({ message() {}, refused() {} });
        const stranger = c.net.endpoint("10.9.9.9:1");
        let sent = 0;
        try {
          for (const [frame, wait, authenticated, to] of frames) {
            const f = frame as { pb?: unknown[]; st?: unknown[] };
            sent += Math.max(1, Array.isArray(f?.pb) ? f.pb.length : 0) +
              (Array.isArray(f?.st) ? f.st.length : 0);
            // To some honest members only: a victim that does not hear a lie cannot refute it.
            HONEST.forEach((i, bit) => {
              const from = authenticated ? evil : stranger;
              if (to & (1 << bit)) from.send(c.addresses[i], frame as Frame);
            });
            // Just after delivery (one hop: 0.25 ms), then after a while.
            c.clock.advance(0.3);
            checkInvariants(c, sent + 1);
            c.clock.advance(wait);
            assert.equal(errors, [], "nothing escapes the engine");
            checkInvariants(c, sent + 1);
          }
          // The adversary stops: the honest members converge again.
          const settled = c.clock.runWhileNot(
            () =>
              HONEST.every((o) => HONEST.every((i) => c.members[o].stateOf(`m${i}`) === "alive")),
            lan.gossipToTheDeadMs + 10 * lan.probeIntervalMs,
            100,
          );
          assert.ok(settled >= 0, "the honest members did not see each other alive again");
          assert.equal(errors, [], "nothing escapes the engine");
        } finally {
          c.stop();
        }
        return true;
      },
    ),
    { seed: SEEDS.engine, numRuns: 300 },
  );
});

/** Records from m1: as a push-pull's state (`asState`) or as gossip updates. */
function recordFrame(rc: unknown[], asState: boolean): Frame {
  return asState
    ? { t: "pp", f: "m1", s: 1, o: true, st: [], rc }
    : { t: "gossip", f: "m1", pb: rc.map((r) => ({ k: "rec", r })) };
}

test("hostile records through engines on the roster trust: no member's record changes, nobody is planted", async () => {
  const base = await createRosterCluster(4, { seed: 5 });
  base.stop();
  const certs = base.pairs.map((p) => p.cert);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.array(anyRecord, { minLength: 1, maxLength: 4 }), fc.boolean()), {
        minLength: 1,
        maxLength: 6,
      }),
      async (batches) => {
        const { logger, errors } = countingLogger();
        const c = await createRosterCluster(4, { seed: 6, form: "restore", logger });
        const evil = adversary(c, 1);
        try {
          for (const [rc, asState] of batches) {
            for (const a of c.addresses) evil.send(a, recordFrame(rc, asState));
            c.clock.advance(50);
            assert.equal(errors, [], "nothing escapes the engine");
            for (const g of c.members) {
              const live = g.records("member").filter((r) => r.value !== null);
              for (const r of live) {
                assert.ok(MEMBER_NAMES.includes(r.key), `planted: ${r.key}`);
                const cert = (r.value as { certificate: string }).certificate;
                assert.is(cert, certs[Number(r.key.slice(1))], `${r.key}'s certificate`);
              }
              for (const r of g.records("junk")) assert.unreachable(`kept a junk record ${r.key}`);
            }
          }
        } finally {
          c.stop();
        }
        return true;
      },
    ),
    { seed: SEEDS.rosterEngine, numRuns: 150 },
  );
});

test("the roster's write rules never throw and refuse what is not a well-formed member or token", () => {
  const keys: RosterKeys = {
    certificatesOf: (name) => (MEMBER_NAMES.includes(name) ? [`cert-${name}`] : []),
    fingerprintOf: (cert) => (cert.startsWith("cert-") ? "ab".repeat(32) : undefined),
    digestOf: (cert) => (cert.startsWith("cert-") ? "ab".repeat(32) : undefined),
    verify: () => false,
    liveCount: () => 0,
    now: () => 0,
    appUsage: () => ({ keys: 0, chars: 0 }),
  };
  fc.assert(
    fc.property(
      anyRecord,
      fc.option(anyRecord, { nil: undefined }),
      fc.boolean(),
      (r, held, trusted) => {
        const rec = r as ReplicatedRecord;
        if (typeof rec.kind !== "string" || typeof rec.key !== "string") return true;
        const problem = rosterRecordProblem(
          rec,
          held as ReplicatedRecord | undefined,
          trusted,
          keys,
        );
        if (rec.kind !== "member" && rec.kind !== "token" && rec.kind !== "app") {
          assert.ok(
            problem,
            "other kinds refused",
          );
        }
        // Nothing verifies here, so only a tombstone, or a trusted or token record, passes.
        if (problem === undefined && !trusted && rec.kind === "member") {
          assert.is(rec.value, null);
        }
        return true;
      },
    ),
    { seed: SEEDS.roster, numRuns: 5000 },
  );
});

test("hostile app records through engines on the roster trust: every bound holds, honest writes still spread", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.tuple(fc.array(anyAppRecord, { minLength: 1, maxLength: 40 }), fc.boolean()),
        { minLength: 1, maxLength: 5 },
      ),
      async (batches) => {
        const { logger, errors } = countingLogger();
        const c = await createRosterCluster(4, { seed: 7, form: "restore", logger });
        const evil = adversary(c, 1);
        try {
          c.clock.advance(1000);
          for (const [rc, asState] of batches) {
            for (const a of c.addresses) evil.send(a, recordFrame(rc, asState));
            c.clock.advance(50);
            assert.equal(errors, [], "nothing escapes the engine");
            const now = c.clock.now();
            for (const g of c.members) {
              const held = g.records(APP_RECORD);
              const usage = usageOf(held);
              assert.ok(usage.keys <= RECORDS_LIMITS.maxKeys, `${usage.keys} keys`);
              assert.ok(usage.chars <= RECORDS_LIMITS.totalChars, `${usage.chars} chars`);
              for (const r of held) {
                assert.ok(r.key.length >= 1 && r.key.length <= RECORDS_LIMITS.keyChars);
                assert.is(keyProblem(r.key), undefined, "a valid key");
                assert.ok(r.version <= now + MAX_VERSION_AHEAD_MS, `version ${r.version}`);
                if (r.value === null) {
                  assert.ok(r.expiresAt! <= r.version + RECORDS_LIMITS.tombstoneMs, "tombstone");
                } else {
                  assert.is(r.expiresAt, undefined, "a value never expires");
                  assert.ok(JSON.stringify(r.value).length <= RECORDS_LIMITS.valueChars);
                }
              }
              for (const r of g.records("member")) {
                assert.ok(MEMBER_NAMES.includes(r.key), `planted member ${r.key}`);
              }
            }
          }
          // An honest write after the storm still reaches every member.
          const honest = c.members[2].setRecord(APP_RECORD, "honest/after", { ok: true });
          const spread = c.clock.runWhileNot(
            () => c.members.every((g) => g.record(APP_RECORD, "honest/after") === honest),
            30_000,
            10,
          );
          const full = c.members.some((g) =>
            usageOf(g.records(APP_RECORD)).keys >= RECORDS_LIMITS.maxKeys
          );
          assert.ok(spread >= 0 || full, "an honest write spreads while there is room");
        } finally {
          c.stop();
        }
        return true;
      },
    ),
    { seed: SEEDS.appRecords, numRuns: 60 },
  );
});

test.run();
