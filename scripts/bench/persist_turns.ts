/**
 * Benchmark: how long a joiner's first store write holds its event loop (issue 15: "no work on a
 * member's event loop may take longer than a small fraction of the probe timeout"). A joiner
 * writes the whole view it is handed: N roster records, N consumed-token records, N member rows
 * with their certificates. Two ways, alternating, on a `file:` store like a member's:
 *
 * - `whole`: every record in one transaction, then every member row in one (what a batch did
 *   before it was split, 98c3d51: `saveRecords` and `upsertMembers` once each);
 * - `parts`: `ViewPersistence.flush`, at most `ROWS_PER_TURN` rows per turn of the event loop;
 * - `none`: no write, the same wait (the floor: on a loaded machine, the process waiting for a
 *   core).
 *
 * Per way: the longest task (the most CPU the process spent between two turns of the event loop,
 * seen by a 1 ms timer chain), the longest the event loop was held (the largest wall-clock gap
 * between two turns: what a probe's ack waits for at worst, the wait for a core included), and
 * the wall time of the whole write, medians and spread over `--runs`. The machine's load (`uptime`) is printed: on a loaded
 * machine both grow with the time the process waits for a core.
 *
 * Usage: `node --import tsx scripts/bench/persist_turns.ts [--members 100] [--runs 9]`
 */
import { execSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { systemClock } from "../../lib/cluster/membership.ts";
import type { ReplicatedRecord } from "../../lib/cluster/membership.ts";
import { MEMBER_RECORD, TOKEN_RECORD } from "../../lib/cluster/roster.ts";
import { ViewPersistence } from "../../lib/daemon/persistence.ts";
import type { ClusterMemberEntry } from "../../lib/daemon/service.ts";
import type { ClusterView } from "../../lib/daemon/view.ts";
import { silentLogger } from "../../lib/log.ts";
import { generateCertificate } from "../../lib/net/certificates.ts";
import { type NewMember, upsertMembers } from "../../lib/store/members.ts";
import { openStore, type Store } from "../../lib/store/open.ts";
import { saveRecords } from "../../lib/store/records.ts";

const { values: opts } = parseArgs({
  options: { members: { type: "string", default: "100" }, runs: { type: "string", default: "9" } },
});
const N = Number(opts.members);
const RUNS = Number(opts.runs);

const { cert } = await generateCertificate({ name: "m", addresses: ["127.0.0.1"] });
const now = Date.now();
/** A distinct certificate-sized text per member (the column is unique). */
const certOf = (run: number, i: number) => `${cert}${run}.${i}`;

function view(run: number): { records: ReplicatedRecord[]; entries: ClusterMemberEntry[] } {
  const records: ReplicatedRecord[] = [];
  const entries: ClusterMemberEntry[] = [];
  for (let i = 0; i < N; i++) {
    const name = `m${i}`;
    const fingerprint = `${i}`.padStart(64, "0");
    const address = `127.0.0.1:${10_000 + i}`;
    const certificate = certOf(run, i);
    records.push({
      kind: MEMBER_RECORD,
      key: name,
      value: { address, certificate, fingerprint, joinedAt: now },
      version: now + i,
      origin: "m0",
    });
    records.push({ kind: TOKEN_RECORD, key: fingerprint, value: null, version: now, origin: "m0" });
    entries.push({
      name,
      address,
      certificate,
      fingerprint,
      role: i < 3 ? "voter" : "spare",
      schema_internal_version: 3,
      schema_external_version: 0,
      last_heartbeat: new Date(now).toISOString(),
      status: "ONLINE",
      extensions: ["internal:runtime_extension_v1", "app:one"],
      extension_verdict: { verdict: "same", missing: [], extra: [] },
      app_version: "1.0.0",
    });
  }
  return { records, entries };
}

/**
 * Runs `write`, measuring the longest gap between two turns of the event loop meanwhile, in wall
 * time and in the process's CPU time (what the task itself cost, without the time the process
 * waited for a core: on a loaded machine the wall gap is mostly that wait).
 */
async function held(
  write: () => Promise<void>,
): Promise<{ heldMs: number; cpuMs: number; wallMs: number }> {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let longest = 0;
  let longestCpu = 0;
  let running = true;
  const tick = () => {
    const t = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    longest = Math.max(longest, t - last);
    longestCpu = Math.max(longestCpu, (cpu.user + cpu.system) / 1000);
    last = t;
    lastCpu = process.cpuUsage();
    if (running) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  await new Promise((r) => setTimeout(r, 5));
  const start = performance.now();
  last = start;
  lastCpu = process.cpuUsage();
  longest = longestCpu = 0;
  await write();
  const wallMs = performance.now() - start;
  await new Promise((r) => setTimeout(r, 5));
  running = false;
  return { heldMs: longest, cpuMs: longestCpu, wallMs };
}

type View = ReturnType<typeof view>;

async function whole(store: Store, { records, entries }: View): Promise<void> {
  await saveRecords(store, records, now);
  const rows: NewMember[] = entries.map((e) => ({
    name: e.name,
    address: e.address,
    certificate: e.certificate,
    role: e.role as NewMember["role"],
    heartbeat: now,
    schemaInternal: e.schema_internal_version,
    schemaExternal: e.schema_external_version,
    appVersion: e.app_version,
    extensions: e.extensions,
  }));
  await upsertMembers(store, rows);
}

async function parts(store: Store, { records, entries }: View): Promise<void> {
  const v = { remember() {}, gossip: { records: () => [] } } as unknown as ClusterView;
  const p = new ViewPersistence({
    store,
    view: v,
    clock: systemClock,
    entries: () => entries,
    logger: silentLogger,
  });
  for (const record of records) {
    if (record.kind !== MEMBER_RECORD) p.onChange({ kind: "record", record, previous: undefined });
  }
  // Roster records last: each starts a flush at once, as the joiner's intake does.
  for (const record of records) {
    if (record.kind === MEMBER_RECORD) p.onChange({ kind: "record", record, previous: undefined });
  }
  await p.flush();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[]) =>
  `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;

const results = {
  whole: { held: [] as number[], cpu: [] as number[], wall: [] as number[] },
  parts: { held: [] as number[], cpu: [] as number[], wall: [] as number[] },
  none: { held: [] as number[], cpu: [] as number[], wall: [] as number[] },
};
const order = ["whole", "parts", "none"] as const;
const load = () => execSync("uptime").toString().trim().replace(/.*load/, "load");
console.log(`before: ${load()}`);
for (let run = 0; run < RUNS; run++) {
  // Each way in turn first, so a slow start or a load spike does not fall on one way alone.
  for (const way of [...order.slice(run % 3), ...order.slice(0, run % 3)]) {
    const dir = mkdtempSync(join(tmpdir(), "cohort-persist-"));
    const store = await openStore({ url: `file:${join(dir, "db.sqlite")}` });
    try {
      const write = { whole, parts, none: async () => {} }[way];
      const v = view(run);
      const r = await held(() => write(store, v));
      results[way].held.push(r.heldMs);
      results[way].cpu.push(r.cpuMs);
      results[way].wall.push(r.wallMs);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
console.log(`after: ${load()}`);
console.log(
  `\nA joiner's first write of a view of ${N} members (${3 * N} rows), ${RUNS} runs each\n`,
);
console.log(
  "| way | longest task, CPU (ms) | event loop held, longest wall gap (ms) | whole write, wall (ms) |",
);
console.log("|---|---|---|---|");
for (const way of order) {
  const r = results[way];
  console.log(`| ${way} | ${fmt(r.cpu)} | ${fmt(r.held)} | ${fmt(r.wall)} |`);
}
