/**
 * The roster's write rules across incarnations, as one member applies them to what it receives
 * (cohort's trust over real member keys): a member that missed a removal and the name's new
 * admission takes the new certificate, and one that missed an admission takes the admitted
 * member although its admitting member left since; the removed incarnation never comes back,
 * and a name changes hands only after a removal.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { RecordStore, ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { rosterTrust } from "../../lib/cluster/roster_trust.ts";
import type { Trust } from "../../lib/cluster/trust.ts";
import type { KeyPair } from "../../lib/net/certificates.ts";
import { keyPair } from "../net/_helpers.ts";
import { recordPayload } from "../../lib/cluster/roster.ts";
import { rosterRecord, signWith } from "../gossip/roster_fixture.ts";

const test = suite("roster trust across incarnations");

/** One member's record table, fed as the gossip layer does: a record is stored when accepted. */
class Receiver {
  readonly #records = new Map<string, ReplicatedRecord>();
  readonly #listeners: ((r: ReplicatedRecord, previous: ReplicatedRecord | undefined) => void)[] =
    [];
  readonly trust: Trust;

  constructor(name: string, pair: KeyPair, held: ReplicatedRecord[]) {
    for (const r of held) this.#records.set(r.key, r);
    const records: RecordStore = {
      setRecord: () => {
        throw new Error("not here");
      },
      record: (kind, key) => kind === "member" ? this.#records.get(key) : undefined,
      records: (kind) => kind === "member" ? [...this.#records.values()] : [],
    };
    this.trust = rosterTrust(pair)({
      name,
      records,
      now: () => 0, // the records' times are small numbers
      onRecordChange: (l) => void this.#listeners.push(l),
    });
  }

  /** Offers a record from the network: why it was refused, or `undefined` once stored. */
  offer(r: ReplicatedRecord): string | undefined {
    const held = this.#records.get(r.key);
    if (
      held && (held.version > r.version || (held.version === r.version && held.value === null)) &&
      !this.trust.overrides?.(r, held)
    ) return "older";
    const problem = this.trust.recordProblem(r, held, false);
    if (problem === undefined) {
      this.#records.set(r.key, r);
      for (const l of this.#listeners) l(r, held);
    }
    return problem;
  }

  certificateOf(name: string): string | undefined {
    return (this.#records.get(name)?.value as { certificate?: string } | null)?.certificate;
  }
}

const tombstone = (key: string, version: number, origin = "m1"): ReplicatedRecord => ({
  kind: "member",
  key,
  value: null,
  version,
  origin,
});

/** `r` written again by its member (`pair`) at `version`, its admission kept as it was. */
function rewrite(r: ReplicatedRecord, pair: KeyPair, version: number): ReplicatedRecord {
  const { sig: _, ...value } = r.value as Record<string, unknown>;
  const record = { ...r, value: null, version, origin: r.key };
  const sig = signWith(pair.key, recordPayload(record, value));
  return { ...record, value: { ...value, sig } as ReplicatedRecord["value"] };
}

interface Cast {
  m1: { name: string; pair: KeyPair };
  m2: { name: string; pair: KeyPair };
  m3: { name: string; pair: KeyPair };
  /** m2's certificate after its removal and new join. */
  m2b: { name: string; pair: KeyPair };
  /** m1's certificate after its removal and new join. */
  m1b: { name: string; pair: KeyPair };
  m4: { name: string; pair: KeyPair };
  /**
   * m3's table: m1 bootstrapped, admitted m2 and m3, who completed their joins; `restored`
   * replace records of the same key (as a restart finds them in the store).
   */
  receiver(restored?: ReplicatedRecord[]): Receiver;
}

async function cast(): Promise<Cast> {
  const [p1, p2, p3, p2b, p1b, p4] = await Promise.all(
    ["m1", "m2", "m3", "m2b", "m1b", "m4"].map(keyPair),
  );
  const m1 = { name: "m1", pair: p1 };
  const m2 = { name: "m2", pair: p2 };
  const m3 = { name: "m3", pair: p3 };
  return {
    m1,
    m2,
    m3,
    m2b: { name: "m2", pair: p2b },
    m1b: { name: "m1", pair: p1b },
    m4: { name: "m4", pair: p4 },
    receiver: (restored = []) =>
      new Receiver("m3", p3, [
        rosterRecord("m1", p1, m1, { version: 1000 }),
        rosterRecord("m2", p2, m1, { version: 2000 }),
        rosterRecord("m3", p3, m1, { version: 3000 }),
        ...restored,
      ]),
  };
}

test("a member that missed a removal and the new join of the same name takes the new certificate", async () => {
  const c = await cast();
  // m1 removed m2 at 10 000 and admitted it again with a new certificate; m3 heard neither.
  const admitted = rosterRecord("m2", c.m2b.pair, c.m1, {
    version: 11_000,
    joining: true,
    writer: c.m1,
    after: 10_000,
  });
  const completed = rosterRecord("m2", c.m2b.pair, c.m1, {
    version: 12_000,
    joinedAt: 11_000,
    after: 10_000,
  });
  let r = c.receiver();
  assert.is(r.offer(completed), undefined, "the completed join, straight away");
  assert.is(r.certificateOf("m2"), c.m2b.pair.cert);
  assert.is(r.trust.nameOf(c.m2b.pair.fingerprint), "m2");
  assert.is(r.trust.nameOf(c.m2.pair.fingerprint), undefined, "the removed certificate");
  r = c.receiver();
  assert.is(r.offer(admitted), undefined, "the admission");
  assert.is(r.offer(completed), undefined, "then the completed join");
  // One that heard the removal takes the new admission over the tombstone.
  r = c.receiver();
  assert.is(r.offer(tombstone("m2", 10_000)), undefined);
  assert.is(r.offer(completed), undefined);
});

test("the removal wins over the removed incarnation, whatever it writes after", async () => {
  const c = await cast();
  const late = rosterRecord("m2", c.m2.pair, c.m1, { version: 15_000, joinedAt: 2000 });
  let r = c.receiver();
  assert.is(r.offer(tombstone("m2", 10_000)), undefined);
  assert.match(r.offer(late) ?? "", /removed/, "its own write over its tombstone");
  r = c.receiver();
  const completed = rosterRecord("m2", c.m2b.pair, c.m1, {
    version: 12_000,
    joinedAt: 11_000,
    after: 10_000,
  });
  assert.is(r.offer(completed), undefined);
  assert.ok(r.offer(late), "its own write over the new incarnation");
  assert.is(r.certificateOf("m2"), c.m2b.pair.cert);
});

test("a member that took the removed incarnation's later write takes its removal over it", async () => {
  // m2, removed at 10 000 while cut off from m3 and unaware of it, rewrote its record at
  // 15 000 (a refused start it published): m3 took that write, then hears of the removal.
  const c = await cast();
  const late = rewrite(rosterRecord("m2", c.m2.pair, c.m1, { version: 2000 }), c.m2.pair, 15_000);
  const r = c.receiver();
  assert.is(r.offer(late), undefined, "the write, before the removal reached it");
  assert.is(r.offer(tombstone("m2", 10_000)), undefined, "the removal, older, wins");
  assert.is(r.certificateOf("m2"), undefined);
  assert.is(r.trust.nameOf(c.m2.pair.fingerprint), undefined, "m2 is no longer trusted");
  assert.match(r.offer(late) ?? "", /removed/, "and the write never comes back");
  // A tombstone older than the incarnation's admission does not: a new incarnation stays.
  const completed = rosterRecord("m2", c.m2b.pair, c.m1, {
    version: 12_000,
    joinedAt: 11_000,
    after: 10_000,
  });
  const s = c.receiver();
  assert.is(s.offer(completed), undefined);
  assert.is(s.offer(tombstone("m2", 10_000)), "older");
  assert.is(s.certificateOf("m2"), c.m2b.pair.cert);
});

test("a name changes hands only after a removal: an admission over a live member needs one", async () => {
  const c = await cast();
  const over = (after?: number, joinedAt = 11_000) =>
    rosterRecord("m2", c.m2b.pair, c.m1, {
      version: 11_000,
      joinedAt,
      joining: true,
      writer: c.m1,
      after,
    });
  const r = c.receiver();
  assert.ok(r.offer(over()), "no removal stated");
  assert.ok(r.offer(over(1500)), "a removal before m2's own admission removed another holder");
  assert.ok(r.offer(over(11_500)), "a removal after the admission does not precede it");
  assert.is(r.certificateOf("m2"), c.m2.pair.cert);
  // The removal stated is signed: it cannot be added to an admission made without one.
  const plain = over() as unknown as { value: { admission: Record<string, unknown> } };
  const forged = {
    ...plain,
    value: { ...plain.value, admission: { ...plain.value.admission, after: 10_000 } },
  } as unknown as ReplicatedRecord;
  assert.ok(r.offer(forged));
  assert.is(r.offer(over(10_000)), undefined);
});

test("a member that missed an admission takes the admitted member after its admitting member left", async () => {
  const c = await cast();
  // m1 admitted m4 at 5000 (m3 missed it), then was removed at 6000.
  const m4 = rosterRecord("m4", c.m4.pair, c.m1, { version: 5500, joinedAt: 5000 });
  let r = c.receiver();
  assert.is(r.offer(tombstone("m1", 6000, "m2")), undefined);
  assert.is(r.offer(m4), undefined, "admitted by m1 while it was a member");
  // The removed m1's key admits nobody after its removal.
  const afterwards = rosterRecord("m5", c.m4.pair, c.m1, { version: 7000 });
  assert.match(r.offer(afterwards) ?? "", /admission/);

  // m1 joined again with a new certificate (admitted by m2, after its removal) before m3
  // heard of m4: m4's admission is still checked against the certificate m1 had then.
  r = c.receiver();
  const m1b = rosterRecord("m1", c.m1b.pair, c.m2, { version: 6500, after: 6000 });
  assert.is(r.offer(m1b), undefined);
  assert.is(r.offer(m4), undefined, "admitted by m1's previous certificate");
  assert.match(r.offer(afterwards) ?? "", /admission/, "m1's previous key, after its removal");
});

test("a member rewrites its own record after its admitting member left", async () => {
  const c = await cast();
  // m3 restarted since it took m1's removal: its store holds the tombstone alone.
  const held = rosterRecord("m2", c.m2.pair, c.m1, { version: 2000 });
  const r = c.receiver([held, tombstone("m1", 6000, "m2")]);
  assert.is(r.offer(rewrite(held, c.m2.pair, 9000)), undefined);
  // Its admission is checked once, when its certificate enters: a changed one is checked again.
  const other = rosterRecord("m2", c.m2.pair, c.m1, { version: 9500, joinedAt: 2500 });
  assert.match(r.offer(other) ?? "", /admission/);
});

test.run();
