/**
 * What the soak benchmark (`soak.ts`) watches on each member and how it reports growth: one
 * sample per member every scrape (process figures from /proc and the Prometheus scrape, the
 * store's files and table rows, the state directory, the log), and a table of each figure's
 * growth per 100 operator actions, fitted over the samples after the warm-up.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

/** One sample of one member: figure name → value, with the actions done when it was taken. */
export interface Sample {
  member: string;
  /** The member's process incarnation (a restart starts a new one: its process figures reset). */
  incarnation: number;
  actions: number;
  atMs: number;
  figures: Record<string, number>;
}

/** Figures read from a Prometheus scrape, by metric name (first series only). */
const SCRAPED: Record<string, string> = {
  rss_mb: "process_resident_memory_bytes",
  heap_used_mb: "nodejs_heap_size_used_bytes",
  external_mb: "nodejs_external_memory_bytes",
  handles: "nodejs_active_handles",
  resources: "nodejs_active_resources",
  // The daemon's own time answering `cluster list` (cumulative: the report takes differences).
  list_sum_s: 'cohort_http_request_duration_seconds_sum{method="GET",route="/core/1.0/cluster"',
  list_count: 'cohort_http_request_duration_seconds_count{method="GET",route="/core/1.0/cluster"',
  gossip_members: "cohort_gossip_members",
  gossip_connections: "cohort_gossip_connections",
  broadcast_queue: "cohort_gossip_broadcast_queue",
  merge_waiting: "cohort_gossip_merge_entries_waiting",
};

/** The figures of a Prometheus text scrape that the soak follows (bytes as MB). */
export function scrapeFigures(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, metric] of Object.entries(SCRAPED)) {
    // Sum every series of the metric: gossip_members has one per status, handles one per type.
    let sum: number | undefined;
    for (const line of text.split("\n")) {
      if (!line.startsWith(metric) || line.startsWith("#")) continue;
      const rest = line.slice(metric.length);
      // A name alone must end there; a name with labels given matches any further labels.
      if (!metric.includes("{") && rest[0] !== " " && rest[0] !== "{") continue;
      const value = Number(line.slice(line.lastIndexOf(" ") + 1));
      if (Number.isFinite(value)) sum = (sum ?? 0) + value;
    }
    if (sum !== undefined) out[key] = key.endsWith("_mb") ? sum / 1e6 : sum;
  }
  return out;
}

/** Open descriptors, threads, resident memory and CPU seconds of `pid`, from /proc. */
export function procFigures(pid: number): Record<string, number> {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    return {
      fds: readdirSync(`/proc/${pid}/fd`).length,
      threads: Number(/Threads:\s+(\d+)/.exec(status)?.[1]),
      vm_rss_mb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1000,
      cpu_s: ticks / 100,
    };
  } catch {
    return {}; // exited meanwhile
  }
}

/** The store's files, the state directory's files, and the rows of each cohort table. */
export function storeFigures(stateDir: string, scratch: string): Record<string, number> {
  const db = join(stateDir, "database", "cohort.db");
  const out: Record<string, number> = { state_files: countFiles(stateDir) };
  if (!existsSync(db)) return out;
  out.db_kb = sizeOf(db) / 1000;
  out.wal_kb = sizeOf(`${db}-wal`) / 1000;
  // Rows are counted on a copy, so the member's own connections never wait on the count.
  const copy = join(scratch, "count.db");
  try {
    copyFileSync(db, copy);
    if (existsSync(`${db}-wal`)) copyFileSync(`${db}-wal`, `${copy}-wal`);
    const query = ["core_cluster_members", "core_former_certificates", "core_records"]
      .concat("core_token_records")
      .map((t) => `(SELECT count(*) FROM ${t})`).join(", ");
    const row = execFileSync("sqlite3", [copy, `SELECT ${query};`], { encoding: "utf8" });
    const [members, former, records, tokens] = row.trim().split("|").map(Number);
    Object.assign(out, {
      rows_members: members,
      rows_former_certs: former,
      rows_records: records,
      rows_token_records: tokens,
    });
    const kinds = execFileSync("sqlite3", [
      copy,
      "SELECT kind || CASE WHEN value IS NULL THEN '_deleted' ELSE '' END, count(*) FROM core_records GROUP BY 1;",
    ], { encoding: "utf8" });
    for (const line of kinds.trim().split("\n").filter(Boolean)) {
      const [kind, n] = line.split("|");
      out[`records_${kind}`] = Number(n);
    }
  } catch (err) {
    out.count_failed = 1;
    process.stderr.write(`[soak] counting rows of ${db}: ${(err as Error).message}\n`);
  } finally {
    for (const f of [copy, `${copy}-wal`, `${copy}-shm`]) rmSync(f, { force: true });
  }
  return out;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function countFiles(dir: string): number {
  try {
    return readdirSync(dir, { recursive: true }).length;
  } catch {
    return 0;
  }
}

/** Least-squares slope of y over x (0 with fewer than two distinct x). */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** One row of the growth table. */
export interface Growth {
  figure: string;
  member: string;
  first: number;
  last: number;
  per100: number;
}

/**
 * Growth of every figure per 100 actions, per member: fitted over the samples taken after
 * `warmupActions`, within one incarnation for process figures (a restart resets them) and over
 * all incarnations for what persists (store, rows, state files).
 */
export function growth(samples: Sample[], warmupActions: number): Growth[] {
  const persistent = /^(db_|wal_|rows_|records_|state_files)/;
  const rows: Growth[] = [];
  const members = [...new Set(samples.map((s) => s.member))];
  for (const member of members) {
    const mine = samples.filter((s) => s.member === member && s.actions >= warmupActions);
    const figures = [...new Set(mine.flatMap((s) => Object.keys(s.figures)))].sort();
    for (const figure of figures) {
      // Process figures: the longest-lived incarnation after the warm-up.
      let series = mine;
      if (!persistent.test(figure)) {
        const byInc = new Map<number, Sample[]>();
        for (const s of mine) byInc.set(s.incarnation, [...(byInc.get(s.incarnation) ?? []), s]);
        series = [...byInc.values()].sort((a, b) => b.length - a.length)[0] ?? [];
      }
      const points = series.filter((s) => figure in s.figures)
        .map((s) => [s.actions, s.figures[figure]] as [number, number]);
      if (points.length < 3) continue;
      rows.push({
        figure,
        member,
        first: points[0][1],
        last: points[points.length - 1][1],
        per100: slope(points) * 100,
      });
    }
  }
  return rows;
}

/** Counts of a member's log lines by level and message, from its log files. */
export function logTally(files: string[]): { lines: number; byKey: Map<string, number> } {
  const byKey = new Map<string, number>();
  let lines = 0;
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line) continue;
      lines++;
      let key = line.slice(0, 80);
      try {
        const j = JSON.parse(line);
        key = `${j.level ?? "?"}: ${String(j.msg ?? j.message ?? "").slice(0, 90)}`;
      } catch { /* not JSON: keep the raw start */ }
      byKey.set(key, (byKey.get(key) ?? 0) + 1);
    }
  }
  return { lines, byKey };
}
