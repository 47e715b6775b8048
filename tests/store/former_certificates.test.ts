/**
 * The certificates a member saw leave a name, in its store (`core_former_certificates`): written
 * with the records whose change ended them, read back in order, within the memory's bounds; and
 * what they are for: a member restarted from its store still takes a member admitted by one
 * removed since (rule 1 of `lib/cluster/roster_rules.ts`), which it refused when the memory did not
 * survive the restart.
 */
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  FORMER_NAMES,
  FORMER_PER_NAME,
  type FormerCertificate,
  FormerCertificates,
} from "../../lib/cluster/former_certificates.ts";
import type { RecordStore, ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { rosterTrust } from "../../lib/cluster/roster_trust.ts";
import {
  clearFormerCertificates,
  loadFormerCertificates,
  saveFormerCertificates,
} from "../../lib/store/former_certificates.ts";
import { INTERNAL_MIGRATIONS, MIGRATIONS_TABLES, readJournal } from "../../lib/store/migrate.ts";
import { appliedVersions, openStore, type Store } from "../../lib/store/open.ts";
import { loadRecords, saveRecords } from "../../lib/store/records.ts";
import { rosterRecord } from "../gossip/roster_fixture.ts";
import { keyPair } from "../net/_helpers.ts";
import { count, fileUrl, hasTable, tempDir } from "./helpers.ts";

const test = suite<{ store: Store }>("store/former certificates");

test.before.each(async (ctx) => {
  ctx.store = await openStore({ url: ":memory:" });
});

test.after.each((ctx) => {
  ctx.store.close();
});

const former = (name: string, n: number, until = n): FormerCertificate => ({
  name,
  certificate: `cert ${name} ${n}`,
  fingerprint: `fp ${name} ${n}`,
  until,
});

test("saved with the records whose change ended them, read back in the order noted", async ({ store }) => {
  const tombstone: ReplicatedRecord = {
    kind: "member",
    key: "m1",
    value: null,
    version: 6000,
    origin: "m2",
  };
  const noted = [former("m1", 1, 6000), former("m2", 1, 7000), former("m1", 2, 8000)];
  await saveRecords(store, [tombstone], 10_000, noted);
  assert.equal(await loadRecords(store, 10_000), [tombstone]);
  assert.equal(await loadFormerCertificates(store), noted);
  // A batch that ended nothing adds nothing.
  await saveRecords(store, [{ ...tombstone, version: 6001 }], 10_000);
  assert.equal(await loadFormerCertificates(store), noted);
  await clearFormerCertificates(store);
  assert.equal(await loadFormerCertificates(store), []);
});

test("kept within the memory's bounds: what a restart reads back is what the memory held", async ({ store }) => {
  const noted: FormerCertificate[] = [];
  for (let n = 1; n <= FORMER_PER_NAME + 3; n++) noted.push(former("often", n));
  for (let i = 0; i < FORMER_NAMES + 5; i++) noted.push(former(`name${i}`, 1));
  noted.push(former("name7", 2)); // noted again: its name is the latest
  await saveFormerCertificates(store, noted);
  const stored = await loadFormerCertificates(store);
  const memory = new FormerCertificates(noted);
  assert.equal(new FormerCertificates(stored).entries(), memory.entries(), "restored as it was");
  assert.is(new Set(stored.map((f) => f.name)).size, FORMER_NAMES);
  assert.equal(stored.filter((f) => f.name === "name7").map((f) => f.until), [1, 2]);
  assert.equal(stored.at(-1), former("name7", 2), "read back in the order noted");
  for (const name of ["often", "name0", "name4"]) {
    assert.ok(!stored.some((f) => f.name === name), `${name}, noted longest ago, was forgotten`);
  }
  assert.ok(stored.some((f) => f.name === "name5"));

  const other = await openStore({ url: ":memory:" });
  try {
    for (const f of noted.slice(0, FORMER_PER_NAME + 3)) await saveFormerCertificates(other, [f]);
    assert.equal(
      (await loadFormerCertificates(other)).map((f) => f.until),
      [4, 5, 6, 7, 8, 9, 10, 11],
      `a name keeps its ${FORMER_PER_NAME} latest certificates`,
    );
  } finally {
    other.close();
  }
});

test("a member restarted from its store still takes a member admitted by one removed since", async () => {
  const [p1, p2, p3, p4] = await Promise.all(["m1", "m2", "m3", "m4"].map(keyPair));
  const m1 = { name: "m1", pair: p1 };
  // m3's table: m1 bootstrapped and admitted m2 and m3. m1 admitted m4 at 5000 (m3 did not
  // hear of it), and was removed at 6000.
  const held = [
    rosterRecord("m1", p1, m1, { version: 1000 }),
    rosterRecord("m2", p2, m1, { version: 2000 }),
    rosterRecord("m3", p3, m1, { version: 3000 }),
  ];
  const m4 = rosterRecord("m4", p4, m1, { version: 5500, joinedAt: 5000 });
  const tombstone: ReplicatedRecord = {
    kind: "member",
    key: "m1",
    value: null,
    version: 6000,
    origin: "m2",
  };
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    const first = await openStore({ url });
    try {
      await saveRecords(first, held, 6000);
      const member = new Member(p3, await loadRecords(first, 6000));
      assert.is(member.offer(tombstone), undefined, "m1's removal");
      await saveRecords(first, [tombstone], 6000, member.former.entries());
    } finally {
      first.close();
    }
    // The restart, from the store alone.
    const again = await openStore({ url });
    try {
      const records = await loadRecords(again, 7000);
      const restarted = new Member(p3, records, await loadFormerCertificates(again));
      assert.is(restarted.offer(m4), undefined, "admitted by m1 while it was a member");
      // What the memory is for: without it, the same restart refused m4 for good.
      const forgetful = new Member(p3, records);
      assert.match(forgetful.offer(m4) ?? "", /admission: "m1" is not a member/);
    } finally {
      again.close();
    }
  } finally {
    tmp.remove();
  }
});

test("migration: a database of the release before is upgraded, its records kept, nothing remembered yet", async () => {
  const tmp = tempDir();
  try {
    // cohort's migrations but the one that adds the table, applied as the release before did.
    const before = join(tmp.dir, "migrations");
    cpSync(INTERNAL_MIGRATIONS, before, { recursive: true });
    const path = join(before, "meta/_journal.json");
    const journal = JSON.parse(readFileSync(path, "utf8")) as { entries: { tag: string }[] };
    const at = journal.entries.findIndex((e) => e.tag.endsWith("_former_certificates"));
    assert.ok(at > 0, "cohort has a migration that adds the former certificates");
    journal.entries = journal.entries.slice(0, at);
    writeFileSync(path, JSON.stringify(journal));
    const url = fileUrl(tmp.dir);
    const client = createClient({ url });
    try {
      await migrate(drizzle(client), {
        migrationsFolder: before,
        migrationsTable: MIGRATIONS_TABLES.internal,
      });
      await client.execute(
        "INSERT INTO core_records VALUES ('member', 'm1', NULL, 6000, 'm2', NULL)",
      );
      assert.not.ok(await hasTable(client, "core_former_certificates"));
    } finally {
      client.close();
    }
    const store = await openStore({ url });
    try {
      const n = readJournal(INTERNAL_MIGRATIONS).length;
      assert.equal(await appliedVersions(store), { internal: n, external: 0 });
      assert.is(await count(store.client, "core_records"), 1, "the records are kept");
      assert.ok(await hasTable(store.client, "core_former_certificates"));
      assert.equal(await loadFormerCertificates(store), []);
      await saveFormerCertificates(store, [former("m1", 1, 6000)]);
      assert.equal(await loadFormerCertificates(store), [former("m1", 1, 6000)]);
    } finally {
      store.close();
    }
  } finally {
    tmp.remove();
  }
});

/** One member's roster table and trust, fed as the gossip layer feeds them. */
class Member {
  readonly #records = new Map<string, ReplicatedRecord>();
  readonly #listeners: ((r: ReplicatedRecord, previous: ReplicatedRecord | undefined) => void)[] =
    [];
  readonly former: FormerCertificates;
  readonly #trust;

  constructor(
    pair: { cert: string; key: string },
    records: readonly ReplicatedRecord[],
    former: readonly FormerCertificate[] = [],
  ) {
    for (const r of records) this.#records.set(r.key, r);
    this.former = new FormerCertificates(former);
    const table: RecordStore = {
      setRecord: () => {
        throw new Error("not here");
      },
      record: (kind, key) => kind === "member" ? this.#records.get(key) : undefined,
      records: (kind) => kind === "member" ? [...this.#records.values()] : [],
    };
    this.#trust = rosterTrust(pair, { former: this.former })({
      name: "m3",
      records: table,
      now: () => 0, // the records' times are small numbers
      onRecordChange: (l) => void this.#listeners.push(l),
    });
  }

  /** Offers a record from the network: why it was refused, or `undefined` once stored. */
  offer(r: ReplicatedRecord): string | undefined {
    const held = this.#records.get(r.key);
    const problem = this.#trust.recordProblem(r, held, false);
    if (problem === undefined) {
      this.#records.set(r.key, r);
      for (const l of this.#listeners) l(r, held);
    }
    return problem;
  }
}

test.run();
