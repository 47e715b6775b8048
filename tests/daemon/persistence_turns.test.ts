/**
 * The view's persistence never writes more than `ROWS_PER_TURN` rows in one turn of the event
 * loop: a joiner's first batch (the whole view it was handed) is written in parts, each in a
 * turn of its own, so the joiner reads and answers its probes between them (issue 15: written at
 * once, it held the loop for seconds on a loaded machine). A certificate a record change ended is
 * written in the same part as that record. Turns are the simulated clock's (the default yield is
 * a zero-delay timer on it); rows are counted with SQLite's `total_changes()` on the store's own
 * connection after each turn.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SimClock } from "../../gossip/sim_clock.ts";
import type { ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import { silentLogger } from "../../lib/log.ts";
import { ROWS_PER_TURN, ViewPersistence } from "../../lib/daemon/persistence.ts";
import type { ClusterMemberEntry } from "../../lib/daemon/service.ts";
import type { ClusterView, ViewChange } from "../../lib/daemon/view.ts";
import { APP_RECORD } from "../../lib/records/limits.ts";
import { openStore, type Store } from "../../lib/store/open.ts";

const test = suite<{ store: Store; clock: SimClock }>("view persistence, rows per turn");

test.before.each(async (ctx) => {
  ctx.store = await openStore({ url: ":memory:" });
  ctx.clock = new SimClock(Date.UTC(2026, 0, 1));
});

test.after.each((ctx) => {
  ctx.store.close();
});

/** The persistence of a view that only remembers; `entries` are the member rows to write. */
function persistence(store: Store, clock: SimClock, entries: ClusterMemberEntry[] = []) {
  const view = { remember() {} } as unknown as ClusterView;
  return new ViewPersistence({ store, view, clock, entries: () => entries, logger: silentLogger });
}

function entry(i: number): ClusterMemberEntry {
  return {
    name: `m${i}`,
    address: `127.0.0.1:${9000 + i}`,
    certificate: `certificate of m${i}`,
    fingerprint: `${i}`.padStart(64, "0"),
    role: "voter",
    schema_internal_version: 3,
    schema_external_version: 0,
    last_heartbeat: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    status: "ONLINE",
    extensions: ["a", "b"],
    extension_verdict: { verdict: "same", missing: [], extra: [] },
    app_version: "1.0",
  };
}

function appRecord(i: number): ViewChange {
  const record: ReplicatedRecord = {
    kind: APP_RECORD,
    key: `k${i}`,
    value: { i, pad: "x".repeat(200) },
    version: Date.UTC(2026, 0, 1) + i,
    origin: "m1",
  };
  return { kind: "record", record, previous: undefined };
}

async function changes(store: Store): Promise<number> {
  const r = await store.client.execute("SELECT total_changes() AS n");
  return Number(r.rows[0].n);
}

/** Runs `flush` to its end one turn at a time; returns the rows each turn wrote. */
async function rowsPerTurn(store: Store, clock: SimClock, flush: () => Promise<void>) {
  let settled = false;
  const done = flush().finally(() => (settled = true));
  const turns: number[] = [];
  let last = await changes(store);
  while (!settled) {
    // A real immediate lets every promise of this turn settle; the clock's zero-delay timer,
    // the persistence's yield, only fires at the next advance: the next turn.
    await new Promise((r) => setImmediate(r));
    const now = await changes(store);
    turns.push(now - last);
    last = now;
    clock.advance(0);
    if (turns.length > 1000) throw new Error("the flush never ended");
  }
  await done;
  return turns;
}

test("a joiner's whole view is written a bounded part per turn", async ({ store, clock }) => {
  const members = Array.from({ length: 100 }, (_, i) => entry(i + 1));
  const p = persistence(store, clock, members);
  for (let i = 0; i < 200; i++) p.onChange(appRecord(i));
  const turns = await rowsPerTurn(store, clock, () => p.flush());
  const total = turns.reduce((a, b) => a + b, 0);
  assert.is(total, 300, "every record and member row written");
  for (const [i, n] of turns.entries()) {
    assert.ok(n <= ROWS_PER_TURN, `turn ${i} wrote ${n} rows (at most ${ROWS_PER_TURN})`);
  }
  assert.ok(turns.length >= 300 / ROWS_PER_TURN, `${turns.length} turns`);
  const stored = await store.client.execute(
    "SELECT (SELECT count(*) FROM core_records) AS r, (SELECT count(*) FROM core_cluster_members) AS m",
  );
  assert.equal([Number(stored.rows[0].r), Number(stored.rows[0].m)], [200, 100]);
});

test("two batches begun in one turn share its budget", async ({ store, clock }) => {
  const p = persistence(store, clock, Array.from({ length: 20 }, (_, i) => entry(i + 1)));
  for (let i = 0; i < 20; i++) p.onChange(appRecord(i));
  // The joiner's case: its first batch, then at once the one its join asks for.
  const turns = await rowsPerTurn(store, clock, async () => {
    const first = p.flush();
    p.touch();
    for (let i = 20; i < 40; i++) p.onChange(appRecord(i));
    await Promise.all([first, p.flush()]);
  });
  for (const [i, n] of turns.entries()) {
    assert.ok(n <= ROWS_PER_TURN, `turn ${i} wrote ${n} rows (at most ${ROWS_PER_TURN})`);
  }
  assert.is(turns.reduce((a, b) => a + b, 0), 60);
});

test("a certificate a change ended is written in the same part as that change", async ({ store, clock }) => {
  const p = persistence(store, clock);
  const before: ReplicatedRecord = {
    kind: MEMBER_RECORD,
    key: "m7",
    value: { address: "127.0.0.1:9007", certificate: "old", fingerprint: "f".repeat(64) },
    version: Date.UTC(2026, 0, 1),
    origin: "m1",
  };
  const after: ReplicatedRecord = {
    ...before,
    value: { address: "127.0.0.1:9007", certificate: "new", fingerprint: "e".repeat(64) },
    version: before.version + 1,
  };
  // Many changes first: in arrival order the roster change would come in a later part.
  for (let i = 0; i < 3 * ROWS_PER_TURN; i++) p.onChange(appRecord(i));
  let settled = false;
  const done = Promise.resolve().then(() => {
    p.onChange({ kind: "record", record: after, previous: before });
    return p.flush();
  }).finally(() => (settled = true));
  for (let turn = 0; !settled; turn++) {
    await new Promise((r) => setImmediate(r));
    const rows = await store.client.execute(
      "SELECT (SELECT count(*) FROM core_former_certificates WHERE name = 'm7') AS f," +
        " (SELECT count(*) FROM core_records WHERE kind = 'member' AND key = 'm7') AS r",
    );
    const [former, record] = [Number(rows.rows[0].f), Number(rows.rows[0].r)];
    assert.is(former, record, `turn ${turn}: the certificate and the change it ended together`);
    clock.advance(0);
  }
  await done;
  const former = await store.client.execute(
    "SELECT certificate FROM core_former_certificates WHERE name = 'm7'",
  );
  assert.equal(former.rows.map((r) => r.certificate), ["old"]);
});

test.run();
