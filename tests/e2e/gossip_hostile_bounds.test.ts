/**
 * The gossip engine's queue bounds against real daemons (`local` preset), attacked over the real
 * mTLS WebSocket with members' own certificates (read from their state directories) while the
 * cluster goes on. m1 is sent
 * - 24 oversized push-pull openings, all at once from 3 members' certificates (the openings waiting are bounded in JSON chars: `gossip/push_pull_answers.ts`, `gossip/paced.ts`),
 *   while m5 joins through m1 (each certificate's frames spread over its connections: 3, the
 *   bound of connections one certificate may hold but one, left to the member itself);
 * - one-way states that open with badly signed claims and go on with large state, at once from
 *   two certificates (the rest of such a merge waits for later turns, bounded per sender and in
 *   all: `gossip/state_merge.ts`, `gossip/merge_queue.ts`);
 * - a burst of 20 000 small frames in one write (frames over the sender's rate are dropped and
 *   logged, and its connection goes unread a while: `gossip/ws_transport.ts`);
 * - 24 frames of dense JSON (1 MiB of empty objects in a field no check reads), at once from
 *   one member's certificate, then from three (a sender's large frames are handled
 *   within a budget of handling time, a large frame at most per turn: `gossip/ws_transport.ts`);
 * - 200 connections from one member's certificate, and that member restarted meanwhile (the
 *   transport keeps a few per certificate, the most recently heard-from: `gossip/inbound_limit.ts`).
 * m1 must keep its memory bounded (peak RSS from `/proc/PID/status`, reset through `clear_refs`
 * when an attack begins) and the merges waiting (its metrics, read over the control socket), and
 * stay a member everybody holds alive: no member is suspected, the join is seen by every member,
 * no member exits. The peaks and drop counters are printed for the record. At this scale (three
 * certificates) the RSS ceiling holds with the queue bounds removed too: it catches gross growth.
 * Since the transport hands large frames on within each sender's handling budget, the attacks
 * reach the engine's queues spread over turns, and how many are dropped varies from run to run:
 * the simulations (tests/gossip/paced.test.ts, hostile.test.ts) assert those drops.
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, sign } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import type { Duplex, Writable } from "node:stream";
import { suite } from "../helpers/suite.ts";
import { lastLines } from "../helpers/process.ts";
import { value } from "../helpers/metrics.ts";
import * as assert from "uvu/assert";
import type WebSocket from "ws";
import { extensionDigest } from "../../lib/cluster/extensions.ts";
import { fingerprint } from "../../lib/net/certificates.ts";
import { MAX_WAITING_OPENING_CHARS } from "../../gossip/push_pull_answers.ts";
import { MERGE_CHECKS, MERGE_WAITING_MIN } from "../../gossip/merge_queue.ts";
import { RATE_LOG_MS } from "../../gossip/frame_rate.ts";
import { MAX_INBOUND_PER_CERTIFICATE } from "../../gossip/inbound_limit.ts";
import { MAX_FRAME_BYTES } from "../../gossip/messages.ts";
import {
  type ClusterMember,
  dialGossip,
  type GossipCluster,
  loggedStates,
  membersLastLines,
  metricsOf,
  startGossipCluster,
  waitUntil,
} from "../helpers/gossip_cluster.ts";

interface Ctx {
  cluster: GossipCluster;
}

const test = suite<Ctx>(
  "gossip queue bounds against real daemons",
  undefined,
  ({ cluster }) => membersLastLines(cluster, 30),
);

test.before(async (ctx) => {
  // m5 is started but joins only during the first attack.
  ctx.cluster = await startGossipCluster({ members: 5, initial: 4, preset: "local" });
  await Promise.all([
    ctx.cluster.start(member(ctx, "m5")),
    everyOnline(ctx, FOUR, 30_000),
  ]);
});

test.after(async (ctx) => {
  await ctx.cluster?.stopAll();
});

const FOUR = ["m1", "m2", "m3", "m4"];
const FIVE = [...FOUR, "m5"];
/**
 * How much the target's RSS may grow during an attack, at most, in MiB: the frames in flight
 * (24 openings of 0.25 MB), what the bounds let wait (4 Mi chars of openings, parsed; 1 024
 * merge entries per sender), and the runtime's own slack (Deno's heap grows in larger steps).
 * Without bounds, openings of members' certificates could hold 256 frames of 1 MiB.
 */
const MAX_GROWTH_MIB = 128;
/**
 * What the dense frames add to that, in MiB: the 24 frames (0.37 MiB each) a sender's handling
 * budget keeps waiting, read, until their turn, and the garbage their parsing leaves, which a
 * runtime collects lazily: 24 such frames parsed one after another in a bare Node process,
 * nothing kept, grew its RSS 106 MiB (heap 109 MiB, load 54); m1 grew 35-138 MiB under them
 * (Node, load 16-81; Deno: 33-81 MiB). Keeping them parsed would take some 360 MiB. (Those were
 * frames of 0.95 MiB, before MAX_FRAME_BYTES was lowered to 384 KiB; these grow it less.)
 */
const DENSE_EXTRA_MIB = 48;

const member = (ctx: Ctx, name: string) => ctx.cluster.members.find((m) => m.name === name)!;
const read = (m: ClusterMember, file: string) => readFileSync(join(m.dir, file), "utf8");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until each of `names` lists exactly `names`, all ONLINE. */
function everyOnline(ctx: Ctx, names: string[], timeoutMs: number): Promise<number> {
  const want = [...names].sort().join();
  return waitUntil(
    async () => {
      for (const n of names) {
        const view = await ctx.cluster.view(member(ctx, n));
        if (view.map((e) => e.name).sort().join() !== want) return false;
        if (!view.every((e) => e.status === "ONLINE")) return false;
      }
      return true;
    },
    `${names.join(", ")} online in every view`,
    timeoutMs,
  );
}

async function metric(m: ClusterMember, name: string): Promise<number> {
  return value(await metricsOf(m), name) ?? NaN;
}

/** A `/proc/PID/status` field in MiB (`VmRSS`, `VmHWM`). */
function procMiB(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) =>
    l.startsWith(`${field}:`)
  );
  return Number(line!.split(/\s+/)[1]) / 1024;
}

/**
 * Watches `m` while an attack runs: resets its peak RSS (`clear_refs` 5), then reads its metrics
 * every 100 ms for the largest heap in use and merge entries waiting; `stop` adds the peak RSS.
 */
function watch(m: ClusterMember) {
  const pid = m.proc!.child.pid!;
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
  const rss0 = procMiB(pid, "VmRSS");
  const peak = { rss0, rss: 0, heap: 0, waiting: 0, samples: 0 };
  let on = true;
  const loop = (async () => {
    while (on) {
      try {
        const text = await metricsOf(m);
        peak.heap = Math.max(
          peak.heap,
          (value(text, "nodejs_heap_size_used_bytes") ?? 0) / 2 ** 20,
        );
        peak.waiting = Math.max(
          peak.waiting,
          value(text, "cohort_gossip_merge_entries_waiting") ?? 0,
        );
        peak.samples++;
      } catch { /* a scrape that timed out under load: the next one counts */ }
      await sleep(100);
    }
  })();
  return {
    peak,
    async stop() {
      on = false;
      await loop;
      peak.rss = procMiB(pid, "VmHWM");
      return peak;
    },
  };
}

/** Accusations (`suspect`, `dead`) any member logged so far, as `observer: member state`. */
function accusations(ctx: Ctx): string[] {
  const out: string[] = [];
  for (const observer of ctx.cluster.members.filter((m) => m.proc)) {
    for (const m of ctx.cluster.members) {
      for (const state of loggedStates(observer, m.name)) {
        if (state === "suspect" || state === "dead") {
          out.push(`${observer.name}: ${m.name} ${state}`);
        }
      }
    }
  }
  return out;
}

/** Opens `target`'s gossip socket with `as`'s member certificate. */
async function dial(as: ClusterMember, target: ClusterMember): Promise<WebSocket> {
  const ws = await dialGossip(
    target,
    { cert: read(as, "server.crt"), key: read(as, "server.key") },
    as.address,
  );
  if (typeof ws === "number") throw new Error(`${as.name} → ${target.name}: HTTP ${ws}`);
  ws.on("error", () => {});
  return ws;
}

/** A client's WebSocket text frame of `text`, masked with the key 0 (the payload as it is). */
function rawFrame(text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const n = payload.length;
  const head = Buffer.alloc(n < 126 ? 6 : n < 65536 ? 8 : 14);
  head[0] = 0x81; // FIN, text
  if (n < 126) head[1] = 0x80 | n;
  else if (n < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

/**
 * Connections an attack opens per certificate: the transport keeps {@link
 * MAX_INBOUND_PER_CERTIFICATE} (closing the least recently heard-from past it), and one is left
 * to the member itself, so that these attacks test what frames do, not what the connection
 * bound does (the last tests do that).
 */
const PER_CERTIFICATE = MAX_INBOUND_PER_CERTIFICATE - 1;

/**
 * Opens {@link PER_CERTIFICATE} connections to `target` with each certificate of `senders`, and
 * spreads the frames over them (`texts[i]` on a connection of `senders[i]`'s). Writes the first
 * frame of each connection but its last byte, waits until the target has had time to read them,
 * and returns the connections and what completes those frames at once and writes the rest
 * right behind them: the first frames reach the target in one turn of its event loop, as many
 * members' openings do when they all open at once, and the others as fast as TCP carries them.
 */
async function arm(
  target: ClusterMember,
  senders: ClusterMember[],
  texts: string[],
): Promise<{ conns: WebSocket[]; fire: () => void }> {
  const byCert = new Map<ClusterMember, { ws: WebSocket; frames: Buffer[] }[]>();
  for (const as of new Set(senders)) {
    const conns = await Promise.all(
      Array.from({ length: PER_CERTIFICATE }, () => dial(as, target)),
    );
    byCert.set(as, conns.map((ws) => ({ ws, frames: [] })));
  }
  senders.forEach((as, i) => {
    const list = byCert.get(as)!;
    list[i % list.length].frames.push(rawFrame(texts[i]));
  });
  const all = [...byCert.values()].flat().filter((c) => c.frames.length > 0);
  // ws keeps its socket in `_socket`; the frames are written past ws's own sender.
  const socket = (ws: WebSocket) => (ws as unknown as { _socket: Duplex & Writable })._socket;
  for (const { ws, frames } of all) socket(ws).write(frames[0].subarray(0, frames[0].length - 1));
  await waitUntil(
    () => all.every(({ ws }) => socket(ws).writableLength === 0),
    "frames written",
    30_000,
    20,
  );
  await sleep(1000);
  const rests = all.map(({ frames }) =>
    Buffer.concat([frames[0].subarray(frames[0].length - 1), ...frames.slice(1)])
  );
  return {
    conns: [...byCert.values()].flat().map((c) => c.ws),
    fire: () => all.forEach(({ ws }, i) => socket(ws).write(rests[i])),
  };
}

/** Wire metadata like a member's own. */
function wireMeta(address: string, si: number) {
  const ed = extensionDigest(["internal:runtime_extension_v1", "feature_a"]);
  return { a: address, fp: "", r: "voter", si, se: 0, v: "1.0.0", ec: 2, ed };
}

/** Every member still running (no member may exit). */
function assertRunning(ctx: Ctx): void {
  for (const m of ctx.cluster.members.filter((m) => m.proc)) {
    assert.ok(ctx.cluster.running(m), `${m.name} exited:\n${lastLines(m.proc!, 20)}`);
  }
}

/**
 * A push-pull opening (a join's full exchange) of about 250 000 chars of JSON: an extension
 * list nobody runs, of 1 000 names of 250 chars (within the lists' bounds, and the frame within
 * MAX_FRAME_BYTES, so it is well-formed). Long names make it quick to parse: openings of many
 * short names took a loaded member so long to parse, one after the other, that it answered them
 * as fast as they came.
 */
function bigOpening(from: string, seq: number): string {
  const x: Record<string, string[]> = {};
  for (let l = 0; l < 1; l++) {
    const pad = "p".repeat(230);
    x[`digest-${seq}-${l}`] = Array.from({ length: 1000 }, (_, i) => `ext_${seq}_${l}_${i}_${pad}`);
  }
  return JSON.stringify({ t: "pp", f: from, s: seq, j: true, st: [], x });
}

test("24 oversized push-pull openings at once from three certificates: m1's memory stays bounded, m5 joins through it meanwhile, no member is suspected", async (ctx) => {
  const [m1, m2, m3, m4, m5] = FIVE.map((n) => member(ctx, n));
  const before = accusations(ctx).length;
  const t0 = await metricsOf(m1);
  // 8 openings per certificate, the most a member
  // answers one peer in 10 s (more are merged and not answered: they wait nowhere).
  const senders = [m2, m3, m4].flatMap((m) => Array(8).fill(m) as ClusterMember[]);
  const texts = senders.map((as, c) => bigOpening(as.name, 1_000_000 + c));
  const size = texts[0].length;
  const { conns, fire } = await arm(m1, senders, texts);
  const w = watch(m1);
  fire();
  const join = ctx.cluster.join(m5, m1);
  join.catch(() => {}); // awaited below; a failure before must not end the file unhandled
  // 4 answered per gossip interval (100 ms): what waited is answered within seconds.
  await sleep(3000);
  const peak = await w.stop();
  for (const ws of conns) ws.terminate();
  const t1 = await metricsOf(m1);
  const d = (n: string, l: Record<string, string> = {}) =>
    (value(t1, n, l) ?? 0) - (value(t0, n, l) ?? 0);
  const dropped = d("cohort_gossip_openings_dropped_total");
  const answered = d("cohort_gossip_push_pulls_total", { role: "answered" });
  process.stderr.write(
    `  openings: ${texts.length} of ${size} chars, ${dropped} dropped (${
      Math.floor(MAX_WAITING_OPENING_CHARS / size)
    } may wait), ${answered} answered;` +
      ` m1 peak RSS ${peak.rss.toFixed(1)} MiB (${peak.rss0.toFixed(1)} before),` +
      ` heap ${peak.heap.toFixed(1)} MiB (${peak.samples} scrapes)\n`,
  );
  // How many are dropped is not asserted: the transport hands a sender's large frames on within
  // its handling budget, a turn's worth at a time (ws_transport.ts), so three certificates'
  // openings may no longer outrun the 4 answered per interval (1 to 11 dropped in the runs
  // that landed it). The simulation, with 8 certificates, asserts the bound
  // (tests/gossip/paced.test.ts).
  assert.ok(peak.rss - peak.rss0 <= MAX_GROWTH_MIB, `m1's RSS grew to ${peak.rss.toFixed(1)} MiB`);
  await join;
  await everyOnline(ctx, FIVE, 20_000);
  assert.equal(accusations(ctx).slice(before), [], "members suspected during the attack");
  assertRunning(ctx);
});

/**
 * Sends m1 24 frames of dense JSON from `certs`' certificates (8 each when three), all at once
 * (see {@link arm}), and checks m1 stays alive for everyone with its memory
 * bounded.
 */
async function denseAttack(ctx: Ctx, certs: string[]): Promise<void> {
  const m1 = member(ctx, "m1");
  const before = accusations(ctx).length;
  const senders = certs.flatMap((n) => Array(24 / certs.length).fill(member(ctx, n)));
  // A field nobody reads, which no check looks into: each frame, as large as a frame may be,
  // parses into 131 000 objects (some 6 MiB of heap), as long to parse as hundreds of ordinary
  // frames: 24 frames of 1 MiB (330 000 objects each) handled at once held m1's event loop for
  // seconds.
  const pad = JSON.stringify(
    Array.from({ length: Math.floor((MAX_FRAME_BYTES - 100) / 3) }, () => ({})),
  );
  const texts = senders.map((as: ClusterMember, c) =>
    `{"t":"pp","f":"${as.name}","s":${2_000_000 + c},"j":true,"st":[],"pad":${pad}}`
  );
  const { conns, fire } = await arm(m1, senders, texts);
  const w = watch(m1);
  fire();
  // Past a suspicion's shortest life (3 s under `local` with two confirmations).
  await sleep(5000);
  const peak = await w.stop();
  for (const ws of conns) ws.terminate();
  process.stderr.write(
    `  dense (${certs.join(", ")}): 24 frames of ${texts[0].length} chars; m1 peak RSS ${
      peak.rss.toFixed(1)
    } MiB (${peak.rss0.toFixed(1)} before), heap ${
      peak.heap.toFixed(1)
    } MiB (${peak.samples} scrapes)\n`,
  );
  assert.equal(accusations(ctx).slice(before), [], "members suspected during the attack");
  const growth = peak.rss - peak.rss0;
  assert.ok(growth <= MAX_GROWTH_MIB + DENSE_EXTRA_MIB, `m1's RSS grew ${growth.toFixed(1)} MiB`);
  await everyOnline(ctx, FIVE, 10_000);
  assertRunning(ctx);
}

test("24 frames of dense JSON from one member's certificate, at once on its connections: no member is suspected, m1's memory stays bounded", async (ctx) => {
  await denseAttack(ctx, ["m2"]);
});

test("24 frames of dense JSON from three members' certificates, at once on their connections: no member is suspected, m1's memory stays bounded", async (ctx) => {
  await denseAttack(ctx, ["m2", "m3", "m4"]);
});

test("a frame of 1 MiB of dense JSON from m2's certificate: m1 closes the connection (1009) before reading it, and m2 goes on", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  const before = accusations(ctx).length;
  const rejected = () =>
    m1.proc!.logs().split("\n").filter((l) => l.includes("Gossip inbound frame rejected")).length;
  const rejected0 = rejected();
  const evicted0 = await metric(m1, "cohort_gossip_connections_evicted_total");
  const ws = await dial(m2, m1);
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  // Heard from first (m1 answers a ping itself). m2's certificate is m2's own too: its member
  // dials m1 again whenever the earlier attacks' connections pushed its own out, and past the
  // certificate's bound m1 cuts first the connections nothing has arrived on yet, with no close
  // frame (inbound_limit.ts). Until m1 read this frame's header (late under load: it was still
  // handing on the last attack's frames), this one was such a connection, and the client saw
  // 1006 (4 runs in 10 at load 14-21; m1 had counted 2 evictions meanwhile, logged no rejection).
  await new Promise<void>((resolve) => {
    ws.once("pong", () => resolve());
    ws.ping();
  });
  const pad = JSON.stringify(Array.from({ length: 330_000 }, () => ({})));
  const text = `{"t":"pp","f":"m2","s":3000000,"j":true,"st":[],"pad":${pad}}`;
  ws.send(text);
  const code = await closed;
  const evicted = await metric(m1, "cohort_gossip_connections_evicted_total") - evicted0;
  process.stderr.write(
    `  oversized: a frame of ${text.length} bytes, closed with ${code}` +
      ` (m1 cut ${evicted} connections over a certificate's bound meanwhile)\n`,
  );
  assert.ok(text.length > MAX_FRAME_BYTES);
  assert.is(code, 1009, "closed as too large");
  await waitUntil(() => rejected() > rejected0, "m1 logs the frame rejected", 10_000);
  await everyOnline(ctx, FIVE, 10_000);
  assert.equal(accusations(ctx).slice(before), [], "members suspected");
  assertRunning(ctx);
});

test("16 badly signed claims opening large states, at once from two certificates: the rests waiting stay bounded, no member is suspected", async (ctx) => {
  const [m1, m2, m3] = ["m1", "m2", "m3"].map((n) => member(ctx, n));
  const before = accusations(ctx).length;
  const dropped0 = await metric(m1, "cohort_gossip_merges_dropped_total");
  // m2's certificate speaks of m3, m3's of m2: claims at new incarnations with the victim's real
  // certificate fingerprint (so they are checked) and a signature by the wrong key (so the check
  // fails), MERGE_CHECKS of them, then 700 entries of filler: the rest of each state waits.
  const frame = (as: ClusterMember, about: ClusterMember, f: number) => {
    const key = createPrivateKey(read(as, "server.key"));
    const m = {
      ...wireMeta(about.address, 1),
      fp: fingerprint(read(about, "server.crt")),
    };
    const st = [];
    for (let k = 0; k < MERGE_CHECKS; k++) {
      const i = 10_000 + f * MERGE_CHECKS + k;
      const sg = sign("sha256", Buffer.from(`["alive","${about.name}",${i}]`), {
        key,
        dsaEncoding: "ieee-p1363",
      }).toString("base64url");
      st.push({ k: "alive", n: about.name, i, m, sg });
    }
    for (let k = 0; k < 700; k++) st.push({ k: "alive", n: about.name, i: 0, m });
    return JSON.stringify({ t: "pp", f: as.name, s: 500 + f, o: true, st });
  };
  const senders = [...Array(8).fill(m2), ...Array(8).fill(m3)] as ClusterMember[];
  const texts = senders.map((as, c) => frame(as, as === m2 ? m3 : m2, c));
  const { conns, fire } = await arm(m1, senders, texts);
  const w = watch(m1);
  fire();
  await sleep(2000);
  const peak = await w.stop();
  for (const ws of conns) ws.terminate();
  const dropped = (await metric(m1, "cohort_gossip_merges_dropped_total")) - dropped0;
  process.stderr.write(
    `  merges: 16 states of ${texts[0].length} chars, ${dropped} rests dropped, at most` +
      ` ${peak.waiting} entries seen waiting; m1 peak RSS ${peak.rss.toFixed(1)} MiB` +
      ` (${peak.rss0.toFixed(1)} before)\n`,
  );
  // Each sender may have MERGE_WAITING_MIN entries waiting: one rest of 700, not two. How many
  // rests are dropped is not asserted: the transport hands a sender's large frames on within its
  // handling budget, a turn's worth at a time (ws_transport.ts), so a rest may be merged before
  // the next state arrives (0 to 14 dropped). The simulation asserts the drops
  // (tests/gossip/hostile.test.ts).
  assert.ok(peak.waiting <= 2 * MERGE_WAITING_MIN, `${peak.waiting} entries waiting`);
  assert.ok(peak.rss - peak.rss0 <= MAX_GROWTH_MIB, `m1's RSS grew to ${peak.rss.toFixed(1)} MiB`);
  await everyOnline(ctx, FIVE, 10_000);
  assert.equal(accusations(ctx).slice(before), [], "members suspected during the attack");
  assertRunning(ctx);
});

test("a burst of 20 000 frames in one write from m4's certificate: m1 drops what is over the sender's rate, counts and logs it, no other member is suspected", async (ctx) => {
  const [m1, m4] = ["m1", "m4"].map((n) => member(ctx, n));
  const before = accusations(ctx).length;
  const dropLines = () =>
    m1.proc!.logs().split("\n").filter((l) => l.includes("rate limit dropped")).length;
  const lines0 = dropLines();
  const limited0 = await metric(m1, "cohort_gossip_frames_rate_limited_total");
  const ws = await dial(m4, m1);
  const junk = Array.from({ length: 12 }, (_, k) => ({ k: "suspect", n: `x${k}`, i: 1, by: "m4" }));
  const w = watch(m1);
  // One write: the frames are corked together, and m1 reads them as fast as it can. Many more
  // than the sender's burst (768 frames under `local`), so that even a member starved of CPU
  // reads past it while the rate refills.
  const socket = (ws as unknown as { _socket: Duplex & Writable })._socket;
  socket.cork();
  for (let i = 0; i < 20_000; i++) {
    ws.send(JSON.stringify(
      i % 2 ? { t: "ping", f: "m4", s: i, n: "m1" } : {
        t: "gossip",
        f: "m4",
        pb: junk,
      },
    ));
  }
  socket.uncork();
  await waitUntil(() => dropLines() > lines0, "m1 logs frames dropped over the rate", 20_000);
  await sleep(1000);
  const peak = await w.stop();
  ws.terminate();
  const limited = (await metric(m1, "cohort_gossip_frames_rate_limited_total")) - limited0;
  process.stderr.write(
    `  burst: 20000 frames, ${dropLines() - lines0} drop lines, ${limited} counted; m1 peak RSS ${
      peak.rss.toFixed(1)
    } MiB (${peak.rss0.toFixed(1)} before)\n`,
  );
  // Operators see the drops in the metrics too, not only in the log.
  assert.ok(limited > 0, `${limited} frames counted as over the rate`);
  assert.ok(peak.rss - peak.rss0 <= MAX_GROWTH_MIB, `m1's RSS grew to ${peak.rss.toFixed(1)} MiB`);
  await everyOnline(ctx, FIVE, 10_000);
  // m4's own frames to m1 share its certificate's rate with the burst, so m1 may hold m4's acks
  // late: only accusations of the others are the burst's doing to honest members.
  const news = accusations(ctx).slice(before).filter((a) => !a.includes(" m4 "));
  assert.equal(news, [], "members suspected during the burst");
  assertRunning(ctx);
});

/** Open file descriptors of `m`'s process. */
function fds(m: ClusterMember): number {
  return readdirSync(`/proc/${m.proc!.child.pid}/fd`).length;
}

/** When `observer` last heard from `name` directly (its view's `last_heartbeat`), in ms. */
async function heardAt(ctx: Ctx, observer: ClusterMember, name: string): Promise<number> {
  const entry = (await ctx.cluster.view(observer)).find((e) => e.name === name);
  return entry ? Date.parse(entry.last_heartbeat) : NaN;
}

/**
 * Opens `count` gossip connections to `target` with `as`'s certificate, `batch` at a time (the
 * listener lets an address have 16 handshakes in its turn); returns those still open.
 */
async function crowd(
  as: ClusterMember,
  target: ClusterMember,
  count: number,
  batch = 10,
): Promise<{ open: WebSocket[]; refused: number }> {
  const all: WebSocket[] = [];
  let refused = 0;
  for (let i = 0; i < count; i += batch) {
    const got = await Promise.all(
      Array.from(
        { length: Math.min(batch, count - i) },
        () =>
          dialGossip(
            target,
            { cert: read(as, "server.crt"), key: read(as, "server.key") },
            as.address,
          ),
      ),
    );
    for (const ws of got) {
      if (typeof ws === "number") refused++;
      else {
        ws.on("error", () => {});
        all.push(ws);
      }
    }
  }
  await sleep(500); // closes sent by the target arrive
  return { open: all.filter((ws) => ws.readyState === ws.OPEN), refused };
}

test("200 gossip connections from m2's certificate: m1 keeps a few (counted, logged once per interval), its descriptors and memory stay bounded, and m2 still gossips", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  const before = accusations(ctx).filter((a) => !a.includes(" m4 ") && !a.startsWith("m4:"));
  const t0 = await metricsOf(m1);
  const logged = () =>
    m1.proc!.logs().split("\n").filter((l) => l.includes("over the certificate's limit")).length;
  const lines0 = logged();
  const lines = () => logged() - lines0;
  const fds0 = fds(m1);
  const w = watch(m1);
  const started = Date.now();
  const { open, refused } = await crowd(m2, m1, 200);
  const fds1 = fds(m1);
  const t1 = await metricsOf(m1);
  const peak = await w.stop();
  const took = Date.now() - started;
  const inbound = (t: string) => value(t, "cohort_gossip_connections", { direction: "inbound" })!;
  const evicted = (value(t1, "cohort_gossip_connections_evicted_total") ?? 0) -
    (value(t0, "cohort_gossip_connections_evicted_total") ?? 0);
  process.stderr.write(
    `  connections: 200 dialled in ${took} ms, ${open.length} left open, ${refused} refused;` +
      ` m1 inbound ${inbound(t0)} → ${inbound(t1)}, fds ${fds0} → ${fds1}, ${evicted} evicted,` +
      ` ${lines()} log lines; peak RSS ${peak.rss.toFixed(1)} MiB (${
        peak.rss0.toFixed(1)
      } before)\n`,
  );
  // m2's own connection, and at most the bound of its certificate's: m1 closed the rest.
  assert.ok(
    inbound(t1) - inbound(t0) <= MAX_INBOUND_PER_CERTIFICATE,
    `m1 holds ${inbound(t1)} inbound connections (${inbound(t0)} before)`,
  );
  assert.ok(open.length <= MAX_INBOUND_PER_CERTIFICATE, `${open.length} of 200 left open`);
  assert.ok(fds1 - fds0 <= MAX_INBOUND_PER_CERTIFICATE + 8, `m1's descriptors ${fds0} → ${fds1}`);
  assert.ok(evicted >= 200 - MAX_INBOUND_PER_CERTIFICATE - refused, `${evicted} evicted`);
  assert.ok(lines() >= 1 && lines() <= Math.ceil(took / RATE_LOG_MS) + 1, `${lines()} log lines`);
  assert.ok(peak.rss - peak.rss0 <= MAX_GROWTH_MIB, `m1's RSS grew to ${peak.rss.toFixed(1)} MiB`);
  // m2 still reaches m1 directly (its connection was the most recently used of its certificate's):
  // m1 hears from it after the attack, with the attacker's connections still open.
  const after = Date.now();
  await waitUntil(async () => (await heardAt(ctx, m1, "m2")) > after, "m1 hears from m2", 10_000);
  assert.equal(
    accusations(ctx).filter((a) => !a.includes(" m4 ") && !a.startsWith("m4:")).slice(
      before.length,
    ),
    [],
    "members suspected during the attack",
  );
  for (const ws of open) ws.terminate();
  assertRunning(ctx);
});

test("m2 restarted while its certificate's connections fill m1's bound: its new connection is taken, and every member lists it online", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  const { open } = await crowd(m2, m1, 2 * MAX_INBOUND_PER_CERTIFICATE);
  await ctx.cluster.kill(m2);
  const { open: more } = await crowd(m2, m1, 2 * MAX_INBOUND_PER_CERTIFICATE);
  await ctx.cluster.start(m2);
  const after = Date.now();
  await waitUntil(async () => (await heardAt(ctx, m1, "m2")) > after, "m1 hears from m2", 30_000);
  await everyOnline(ctx, FIVE, 30_000);
  for (const ws of [...open, ...more]) ws.terminate();
  assertRunning(ctx);
});

test.run();
