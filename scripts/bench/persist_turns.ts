/**
 * Benchmark: how long a member's store writes hold its event loop (issue 15: "no work on a
 * member's event loop may take longer than a small fraction of the probe timeout"). Two writes:
 *
 * - the **join**: a joiner's first write, the whole view it is handed (N roster records, N
 *   consumed-token records, N member rows with their certificates);
 * - **batches**: the member rows a later batch rewrites: every row whose heartbeat moved by
 *   `HEARTBEAT_PERSIST_MS` (10 s), all N, which a member writes with its next batch once its view
 *   changed (an admission, a record, a suspicion) 10 s or more after the last; while a cluster
 *   forms, at about every admission. (An idle member writes nothing.) Repeated `--rounds` times
 *   back to back: enough rounds take the WAL past SQLite's automatic checkpoint (1000 pages),
 *   whose fsyncs are what a slow disk makes long.
 *
 * Ways, alternating, each in a process of its own (a store closed in the same process is
 * finalized by the garbage collector later, its last checkpoint then falling on the next way's
 * measure), on a fresh `file:` store like a member's:
 * - `whole`: the join in one transaction per table on the event loop (before 98c3d51);
 * - `loop`: `ViewPersistence` (at most `ROWS_PER_TURN` rows per turn) on a store without a
 *   writer thread: SQLite, its commits and checkpoints on the event loop (before the writer);
 * - `thread`: the same on a store with its writer thread (`lib/store/thread_writer.ts`);
 * - `none`: no write, the same waits (the floor: the process waiting for a core).
 *
 * Per way: the longest the event loop was held (the largest wall-clock gap between two turns,
 * seen by a 1 ms timer chain: what a probe's ack waits for at worst) during the join and during
 * the batches, the longest task in CPU, the wall time of the writes, and the WAL bytes one
 * batch appends. Medians (min–max) over `--runs`. The load (`uptime`) is printed.
 *
 * I/O pressure: run it with `TMPDIR` on the disk under test, beside a writer such as
 * `stress-ng --hdd 2`, or in a blkio cgroup that throttles this process's writes (a slow disk of
 * its own: `blkio.throttle.write_bps_device`, `write_iops_device`).
 *
 * Usage: `node --import tsx scripts/bench/persist_turns.ts [--members 100] [--runs 5]
 * [--rounds 30] [--ways whole,loop,thread,none]`
 */
import { execFileSync, execSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { systemClock } from "../../lib/cluster/clock.ts";
import type { ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { MEMBER_RECORD, TOKEN_RECORD } from "../../lib/cluster/roster.ts";
import { HEARTBEAT_PERSIST_MS } from "../../lib/daemon/member_rows.ts";
import { ViewPersistence } from "../../lib/daemon/persistence.ts";
import type { ClusterMemberEntry } from "../../lib/daemon/service.ts";
import type { ClusterView } from "../../lib/daemon/view.ts";
import { silentLogger } from "../../lib/log.ts";
import { generateCertificate } from "../../lib/net/certificates.ts";
import { type NewMember, upsertMembers } from "../../lib/store/members.ts";
import { openStore, type Store } from "../../lib/store/open.ts";
import { saveRecords } from "../../lib/store/records.ts";

const { values: opts } = parseArgs({
  options: {
    members: { type: "string", default: "100" },
    runs: { type: "string", default: "5" },
    rounds: { type: "string", default: "30" },
    ways: { type: "string", default: "whole,loop,thread,none" },
    child: { type: "string" },
    run: { type: "string", default: "0" },
  },
});
const N = Number(opts.members);
const RUNS = Number(opts.runs);
const ROUNDS = Number(opts.rounds);
const WAYS = ["whole", "loop", "thread", "none"] as const;
type Way = (typeof WAYS)[number];
const order = opts.ways.split(",").filter((w): w is Way => (WAYS as readonly string[]).includes(w));

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

/** The longest gap between two turns of the event loop while a 1 ms timer chain runs. */
class LoopWatch {
  #last = performance.now();
  #lastCpu = process.cpuUsage();
  #running = true;
  longest = 0;
  longestCpu = 0;
  constructor() {
    const tick = () => {
      const t = performance.now();
      const cpu = process.cpuUsage(this.#lastCpu);
      this.longest = Math.max(this.longest, t - this.#last);
      this.longestCpu = Math.max(this.longestCpu, (cpu.user + cpu.system) / 1000);
      this.#last = t;
      this.#lastCpu = process.cpuUsage();
      if (this.#running) setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
  }
  /** Starts a new window (the gap under way counts from now). */
  reset(): void {
    this.#last = performance.now();
    this.#lastCpu = process.cpuUsage();
    this.longest = this.longestCpu = 0;
  }
  stop(): void {
    this.#running = false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type View = ReturnType<typeof view>;

/** The join in one transaction per table (on the event loop). */
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

/** A member's persistence of `v`: the join as its intake hands it the view. */
function persistence(store: Store, { records, entries }: View) {
  const v = { remember() {}, gossip: { records: () => [] } } as unknown as ClusterView;
  const p = new ViewPersistence({
    store,
    view: v,
    clock: systemClock,
    entries: () => entries,
    logger: silentLogger,
  });
  const join = async () => {
    for (const record of records) {
      if (record.kind !== MEMBER_RECORD) {
        p.onChange({ kind: "record", record, previous: undefined });
      }
    }
    // Roster records last: each starts a flush at once, as the joiner's intake does.
    for (const record of records) {
      if (record.kind === MEMBER_RECORD) {
        p.onChange({ kind: "record", record, previous: undefined });
      }
    }
    await p.flush();
  };
  /** Batch `r`: every heartbeat moved by `HEARTBEAT_PERSIST_MS` once more. */
  const batch = async (r: number) => {
    const at = new Date(now + r * HEARTBEAT_PERSIST_MS).toISOString();
    for (const e of entries) e.last_heartbeat = at;
    p.touch();
    await p.flush();
  };
  return { join, batch };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[], digits = 1) =>
  xs.length
    ? `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${
      Math.max(...xs).toFixed(digits)
    })`
    : "–";
const walSize = (file: string) => {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
};

interface Figures {
  joinHeld: number[];
  joinCpu: number[];
  joinWall: number[];
  batchHeld: number[];
  batchCpu: number[];
  batchWall: number[];
  walPerBatch: number[];
}
const results = new Map<Way, Figures>(order.map((w) => [w, {
  joinHeld: [],
  joinCpu: [],
  joinWall: [],
  batchHeld: [],
  batchCpu: [],
  batchWall: [],
  walPerBatch: [],
}]));

/** One way's figures of one run, measured in this process (a child of the benchmark's). */
async function measureWay(way: Way, run: number): Promise<Figures> {
  const r: Figures = {
    joinHeld: [],
    joinCpu: [],
    joinWall: [],
    batchHeld: [],
    batchCpu: [],
    batchWall: [],
    walPerBatch: [],
  };
  const dir = mkdtempSync(join(tmpdir(), "cohort-persist-"));
  const file = join(dir, "db.sqlite");
  const store = await openStore({ url: `file:${file}`, writer: way === "thread" });
  const watch = new LoopWatch();
  try {
    const v = view(run);
    const p = persistence(store, v);
    await sleep(5);
    watch.reset();
    let start = performance.now();
    if (way === "whole") await whole(store, v);
    else if (way !== "none") await p.join();
    r.joinWall.push(performance.now() - start);
    await sleep(5);
    r.joinHeld.push(watch.longest);
    r.joinCpu.push(watch.longestCpu);
    if (way === "whole") return r; // its batches are the loop's
    let held = 0, cpu = 0, wall = 0;
    const growth: number[] = [];
    for (let round = 1; round < ROUNDS; round++) {
      const before = walSize(file);
      watch.reset();
      start = performance.now();
      if (way !== "none") await p.batch(round);
      wall = Math.max(wall, performance.now() - start);
      await sleep(5);
      held = Math.max(held, watch.longest);
      cpu = Math.max(cpu, watch.longestCpu);
      const grown = walSize(file) - before;
      if (grown > 0) growth.push(grown);
    }
    r.batchHeld.push(held);
    r.batchCpu.push(cpu);
    r.batchWall.push(wall);
    if (growth.length) r.walPerBatch.push(median(growth) / 1024);
    return r;
  } finally {
    watch.stop();
    store.close();
    await sleep(20); // the writer's connection closes once its last write ended
    rmSync(dir, { recursive: true, force: true });
  }
}

if (opts.child) {
  const figures = await measureWay(opts.child as Way, Number(opts.run));
  console.log(JSON.stringify(figures));
  process.exit(0);
}

/** Runs one way in a child process and adds its figures to the results. */
function runWay(way: Way, run: number): void {
  const out = execFileSync(
    process.execPath,
    [...process.execArgv, process.argv[1], "--members", String(N), "--rounds", String(ROUNDS)]
      .concat(["--child", way, "--run", String(run)]),
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  const figures = JSON.parse(out.trim().split("\n").at(-1)!) as Figures;
  const r = results.get(way)!;
  for (const key of Object.keys(r) as (keyof Figures)[]) r[key].push(...figures[key]);
}

const load = () => execSync("uptime").toString().trim().replace(/.*load/, "load");
console.log(`before: ${load()}; TMPDIR=${tmpdir()}`);
for (let run = 0; run < RUNS; run++) {
  // Each way in turn first, so a slow start or a load spike does not fall on one way alone.
  const k = run % order.length;
  for (const way of [...order.slice(k), ...order.slice(0, k)]) runWay(way, run);
}
console.log(`after: ${load()}`);
console.log(
  `\nN = ${N} members: the join (${3 * N} rows), then ${
    ROUNDS - 1
  } batches of ${N} rows back to back; ${RUNS} runs each, median (min–max)\n`,
);
console.log(
  "| way | join: loop held (ms) | join: longest task CPU (ms) | join: wall (ms) | batches: loop held, longest (ms) | batches: longest task CPU (ms) | batches: longest write wall (ms) | WAL per batch (KiB) |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const way of order) {
  const r = results.get(way)!;
  console.log(
    `| ${way} | ${fmt(r.joinHeld)} | ${fmt(r.joinCpu)} | ${fmt(r.joinWall)} | ${
      fmt(r.batchHeld)
    } | ${fmt(r.batchCpu)} | ${fmt(r.batchWall)} | ${fmt(r.walPerBatch, 0)} |`,
  );
}
