/**
 * What one inbound gossip frame costs to decode, the hold of the event loop no per-sender
 * budget can split (issue 15, "Hostile members"): frames of dense JSON (`[{},{},…]`, the most
 * objects per byte) of several sizes against the largest frames an honest member sends, the
 * parts of a full state at the `lan` table bounds (4 096 members, 8 192 records of 700 chars)
 * as `chunkPayload` splits it. Each frame is decoded as the transport hands it on (UTF-8 bytes
 * to text, then `decodeMessage`), `--reps` times; prints the median and the largest wall time,
 * the CPU time of the largest, and the frame's size in bytes.
 *
 * Usage: `npx tsx scripts/bench/frame_parse.ts [--reps 7]` or
 * `deno run -A scripts/bench/frame_parse.ts`. Say the load (`uptime`) beside the figures.
 */
import { Buffer } from "node:buffer";
import { loadavg } from "node:os";
import process from "node:process";
import type { StateEntry } from "../../gossip/messages.ts";
import { decodeMessage } from "../../gossip/message_decode.ts";
import { chunkPayload } from "../../gossip/push_pull_chunks.ts";
import type { ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";

const repsArg = process.argv.indexOf("--reps");
const reps = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 7;

/** A push-pull opening of `bytes` bytes whose padding is dense JSON (3 bytes per object). */
function dense(bytes: number): Buffer {
  const head = `{"t":"pp","f":"m2","s":1,"j":true,"st":[],"pad":[`;
  const n = Math.floor((bytes - head.length - 2) / 3);
  return Buffer.from(`${head}${Array(n).fill("{}").join(",")}]}`);
}

/** The parts of a full state at the `lan` table bounds, as an honest member sends them. */
function honestParts(): Buffer[] {
  const st: StateEntry[] = [];
  for (let i = 0; i < 4096; i++) {
    st.push({
      k: "alive",
      n: `member-${i}`,
      i: 1_000 + i,
      m: {
        a: `10.0.${i >> 8}.${i & 255}:7443`,
        fp: "ab".repeat(32),
        r: "voter",
        si: 3,
        se: 1,
        v: "1.0.0",
        ec: 12,
        ed: "2d41028d2e5e919e",
      },
      sg: "s".repeat(86),
    });
  }
  const rc: ReplicatedRecord[] = [];
  for (let i = 0; i < 8192; i++) {
    rc.push({
      kind: "app",
      key: `key-${i}`,
      value: { data: "v".repeat(680) },
      version: 1_790_000_000_000 + i,
      origin: `member-${i % 4096}`,
    });
  }
  return chunkPayload({ t: "pp", f: "member-0", s: 1, r: true }, { st, rc }, "member-0").map((
    m,
  ) => Buffer.from(JSON.stringify(m)));
}

/** Wall times (ms) of decoding `frame` `reps` times, and the CPU time of the slowest. */
function time(frame: Buffer): { median: number; max: number; cpu: number } {
  const walls: number[] = [];
  let cpu = 0;
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const msg = decodeMessage(frame.toString("utf8"));
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (typeof msg === "string") throw new Error(`not decoded: ${msg}`);
    if (wall >= Math.max(0, ...walls)) cpu = (c.user + c.system) / 1000;
    walls.push(wall);
  }
  walls.sort((a, b) => a - b);
  return { median: walls[walls.length >> 1], max: walls[walls.length - 1], cpu };
}

const row = (what: string, bytes: number, t: ReturnType<typeof time>) =>
  console.log(
    `${what.padEnd(40)} ${String(bytes).padStart(9)} ${t.median.toFixed(1).padStart(8)} ${
      t.max.toFixed(1).padStart(8)
    } ${t.cpu.toFixed(1).padStart(8)}`,
  );

console.log(`\nOne gossip frame decoded, ${reps} times each, ${runtime()}\n`);
console.log(
  `${"frame".padEnd(40)} ${"bytes".padStart(9)} ${"median".padStart(8)} ${"max ms".padStart(8)} ${
    "cpu ms".padStart(8)
  }`,
);
const parts = honestParts();
let largest = parts[0];
for (const p of parts) if (p.length > largest.length) largest = p;
let slowest = { median: 0, max: 0, cpu: 0 };
let slowestBytes = 0;
for (const p of parts) {
  const t = time(p);
  if (t.max > slowest.max) [slowest, slowestBytes] = [t, p.length];
}
row(`honest full state: largest of ${parts.length} parts`, largest.length, time(largest));
row(`honest full state: slowest part`, slowestBytes, slowest);
// 800 KiB: LEGACY_MAX_FRAME_BYTES, what a dialler of an older release may send.
for (const kib of [1024, 800, 512, 384, 256, 128]) {
  row(`dense JSON, ${kib} KiB`, kib * 1024, time(dense(kib * 1024)));
}

function runtime(): string {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return `${deno ? `Deno ${deno.version.deno}` : `Node ${process.version}`}, load ${
    loadavg()[0].toFixed(1)
  }`;
}
