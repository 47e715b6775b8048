/**
 * A member certificate floods another member's gossip socket, end to end: three real daemons
 * (`local` preset); the test dials m1's gossip WebSocket with m2's certificate (read from its
 * state directory) and writes pings and gossip frames as fast as the socket takes them for
 * ten seconds. m1 must keep answering its probes in time: no member suspects m1 during the flood
 * or after it (a member whose event loop is full answers its probes late: without the bound,
 * m2 and m3 did), m1 logs the drops (rate-limited), and the cluster stays one view.
 * The CPU m1 spent meanwhile is printed for the record (figures are not asserted).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import type WebSocket from "ws";
import {
  type ClusterMember,
  dialGossip,
  type GossipCluster,
  loggedStates,
  membersLastLines,
  startGossipCluster,
  waitUntil,
} from "../helpers/gossip_cluster.ts";

const N = 3;
const FLOOD_MS = 10_000;

interface Ctx {
  cluster: GossipCluster;
}

// A failure prints every member's last log lines: who suspected whom, when, and m1's drops.
const test = suite<Ctx>(
  "gossip flood from a member certificate",
  undefined,
  ({ cluster }) => membersLastLines(cluster, 40),
);

test.before(async (ctx) => {
  ctx.cluster = await startGossipCluster({ members: N, preset: "local" });
  await everyOnline(ctx, 20_000);
});

test.after(async (ctx) => {
  await ctx.cluster?.stopAll();
});

function everyOnline(ctx: Ctx, timeoutMs: number): Promise<number> {
  return waitUntil(
    async () =>
      (await Promise.all(ctx.cluster.members.map((m) => ctx.cluster.view(m)))).every((v) =>
        v.length === N && v.every((e) => e.status === "ONLINE")
      ),
    "every view online",
    timeoutMs,
  );
}

/** CPU time (user + system) of a process so far, in ms (Linux `/proc`). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  // utime and stime are fields 14 and 15 of the whole line (12 and 13 after the command).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Accusations (`suspect`, `dead`) any member logged so far. */
function accusations(ctx: Ctx): string[] {
  const out: string[] = [];
  for (const observer of ctx.cluster.members) {
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

/** Writes frames on `ws` for `ms`, as fast as it drains; resolves with the count written. */
async function flood(ws: WebSocket, ms: number, frame: (i: number) => string): Promise<number> {
  const end = Date.now() + ms;
  let i = 0;
  while (Date.now() < end && ws.readyState === ws.OPEN) {
    for (let k = 0; k < 500 && ws.bufferedAmount < 256 * 1024; k++) ws.send(frame(i++));
    await new Promise((r) => setTimeout(r, ws.bufferedAmount < 256 * 1024 ? 0 : 5));
  }
  return i;
}

test("a member certificate flooding m1 for 10 s makes nobody suspect anyone; m1 logs the drops", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => ctx.cluster.members.find((m) => m.name === n)!);
  const read = (m: ClusterMember, file: string) => readFileSync(join(m.dir, file), "utf8");
  // A busy machine can make members suspect each other now and then: only what is new counts.
  const before = accusations(ctx).length;
  const ws = await dialGossip(
    m1,
    { cert: read(m2, "server.crt"), key: read(m2, "server.key") },
    m2.address,
  );
  if (typeof ws === "number") throw new Error(`m2 → m1: HTTP ${ws}`);
  ws.on("error", () => {});
  const pid = m1.proc!.child.pid!;
  const cpu0 = cpuMs(pid);
  const t0 = Date.now();
  // Pings (each one answered with an ack to m2's address) and gossip frames full of updates
  // about names nobody admitted, as a member's certificate may send them.
  const junk = Array.from({ length: 12 }, (_, k) => ({ k: "suspect", n: `x${k}`, i: 1, by: "m2" }));
  const sent = await flood(ws, FLOOD_MS, (i) =>
    JSON.stringify(
      i % 2 ? { t: "ping", f: "m2", s: i, n: "m1" } : { t: "gossip", f: "m2", pb: junk },
    ));
  const cpu = cpuMs(pid) - cpu0;
  const seconds = (Date.now() - t0) / 1000;
  ws.terminate();
  // Past a suspicion's shortest life (3 s under `local` with two confirmations).
  await new Promise((r) => setTimeout(r, 4000));
  const logs = m1.proc!.logs();
  const dropLines = logs.split("\n").filter((l) => l.includes("rate limit dropped"));
  const dropped = dropLines.reduce((n, l) => n + (JSON.parse(l).dropped ?? 0), 0);
  process.stderr.write(
    `  flood: ${sent} frames in ${seconds.toFixed(1)} s, m1 CPU ${
      (cpu / 10 / seconds).toFixed(0)
    } % meanwhile, ${dropLines.length} drop lines (${dropped} frames), accusations: ${
      accusations(ctx).slice(before).join("; ") || "none"
    }\n`,
  );
  // Only accusations of m1 are the flood's doing (a busy machine can make others now and then).
  const during = accusations(ctx).slice(before);
  assert.equal(during.filter((a) => a.includes(" m1 ")), [], "m1 suspected: its probes ran late");
  assert.ok(dropLines.length >= 1, "m1 did not log the drops");
  assert.ok(dropLines.length <= Math.ceil(seconds / 10) + 1, `${dropLines.length} drop lines`);
  await everyOnline(ctx, 10_000);
});

test.run();
