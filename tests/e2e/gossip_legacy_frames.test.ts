/**
 * End to end, with real member daemons on loopback: frames from a member of a release before
 * link proofs. Such a member chunks state by JSON chars, so a full-state exchange of records of
 * euro signs (3 UTF-8 bytes each) reaches an upgraded member in frames of up to some 770 KiB,
 * over MAX_FRAME_BYTES; refused (1009), the upgraded member never heard the old ones during a
 * rolling upgrade (`scripts/upgrade_from.ts 00c1d24`: every old member listed it UNREACHABLE).
 * A dialler that asks for the link proof runs this release and stays held to MAX_FRAME_BYTES;
 * one that does not may send up to LEGACY_MAX_FRAME_BYTES, and no more, but only while some
 * member of the cluster is not known to run the link proof (its extension list lacks
 * `internal:gossip_link_proof`): once every member runs it, a dialler without the proof is held
 * to MAX_FRAME_BYTES too, at once after a restart (from the member's store, before any gossip).
 */
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { createClient } from "@libsql/client";
import { join } from "node:path";
import WebSocket from "ws";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { fingerprint } from "../../lib/net/certificates.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { SHARE_HEADER, shareNonce } from "../../gossip/link_proof.ts";
import { LEGACY_MAX_FRAME_BYTES, MAX_FRAME_BYTES } from "../../gossip/messages.ts";
import { LINK_PROOF_EXTENSION } from "../../lib/cluster/extensions.ts";
import {
  type ClusterMember,
  type GossipCluster,
  membersLastLines,
  startGossipCluster,
  waitUntil,
} from "../helpers/gossip_cluster.ts";

interface Ctx {
  cluster: GossipCluster;
  /** A connection dialled without the proof while legacy frames were taken, and its close. */
  kept?: WebSocket;
  keptClosed?: Promise<number>;
}

const test = suite<Ctx>(
  "frames of members of an older release",
  undefined,
  ({ cluster }) => membersLastLines(cluster, 30),
);

test.before(async (ctx) => {
  ctx.cluster = await startGossipCluster({ members: 2, preset: "local" });
});

test.after(async (ctx) => {
  await ctx.cluster?.stopAll();
});

const member = (ctx: Ctx, name: string) => ctx.cluster.members.find((m) => m.name === name)!;
const read = (m: ClusterMember, file: string) => readFileSync(join(m.dir, file), "utf8");
const lines = (m: ClusterMember, text: string) =>
  m.proc!.logs().split("\n").filter((l) => l.includes(text)).length;
const rejected = (m: ClusterMember) => lines(m, "Gossip inbound frame rejected");
/** The transport's line for a dialler without the proof held to MAX_FRAME_BYTES (once each). */
const HELD = "Gossip dialler without the link proof held to the frame limit";
/** The daemon's line when every member is known to run the link proof. */
const ENDED = "Every member runs the gossip link proof";

/**
 * Dials `target`'s gossip socket as `as`, asking for the link proof (as this release does) or
 * not (as releases before it); resolves once the connection is open. A member just restarted
 * answers its control socket before its listener: a refused dial is tried again, for 20 s.
 */
async function dialAs(
  as: ClusterMember,
  target: ClusterMember,
  askProof: boolean,
): Promise<WebSocket> {
  for (let tries = 80;; tries--) {
    try {
      return await dialOnce(as, target, askProof);
    } catch (err) {
      if (tries <= 1 || !/ECONNREFUSED/.test(String((err as Error).message))) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function dialOnce(
  as: ClusterMember,
  target: ClusterMember,
  askProof: boolean,
): Promise<WebSocket> {
  const clusterCert = read(target, "cluster.crt");
  const ws = new WebSocket(`wss://${target.address}/core/internal/gossip`, {
    ...pinnedTlsOptions({
      fingerprint: fingerprint(clusterCert),
      peerCert: clusterCert,
      cert: read(as, "server.crt"),
      key: read(as, "server.key"),
    }),
    perMessageDeflate: false,
    headers: {
      "x-cohort-address": as.address,
      ...(askProof ? { [SHARE_HEADER]: shareNonce() } : {}),
    },
  });
  ws.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", (err) => reject(err)); // refused: the promise settles, nothing hangs
  });
  return ws;
}

/**
 * {@link dialAs}, then sends `text` and resolves with the close code, or with 0 when the
 * connection still answers a ping after the frame.
 */
async function sendAs(
  as: ClusterMember,
  target: ClusterMember,
  text: string,
  askProof: boolean,
): Promise<number> {
  const ws = await dialAs(as, target, askProof);
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  ws.send(text);
  // A ping sent after the frame is answered only once the frame was read (in order).
  const ponged = new Promise<number>((resolve) => ws.once("pong", () => resolve(0)));
  ws.ping();
  const code = await Promise.race([closed, ponged]);
  ws.terminate();
  return code;
}

/** A push-pull frame of `bytes` UTF-8 bytes, mostly euro signs (as records of them travel). */
function euroFrame(bytes: number): string {
  const head = `{"t":"pp","f":"m2","s":3000000,"j":true,"st":[],"pad":"`;
  const text = head + "€".repeat(Math.floor((bytes - head.length - 2) / 3)) + `"}`;
  return text;
}

test("in a cluster whose members all run this release, a frame of 700 KB from a dialler without the link proof is closed as too large (1009), logged once", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  await waitUntil(() => Promise.resolve(lines(m1, ENDED) > 0), "m1 logs the switch", 15_000);
  const text = euroFrame(700_000);
  const bytes = Buffer.byteLength(text);
  assert.ok(bytes > MAX_FRAME_BYTES && bytes <= LEGACY_MAX_FRAME_BYTES, `${bytes} bytes`);
  assert.is(await sendAs(m2, m1, text, false), 1009);
  assert.is(await sendAs(m2, m1, text, false), 1009);
  assert.is(lines(m1, HELD), 1, "one line for the certificate, not one per dial or frame");
  assert.is(lines(m1, ENDED), 1);
});

test("the same frame from a dialler that asked for the link proof (this release) is closed as too large (1009)", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  const before = rejected(m1);
  assert.is(await sendAs(m2, m1, euroFrame(700_000), true), 1009);
  await waitUntil(() => Promise.resolve(rejected(m1) > before), "m1 logs the rejection", 10_000);
});

/**
 * Makes `m1` (stopped) remember `m2` as a member of the release before the link proof: what a
 * member that upgraded first holds of the members that have not yet.
 */
async function rememberAsOld(m1: ClusterMember, m2: ClusterMember): Promise<void> {
  const client = createClient({ url: `file:${join(m1.dir, "database", "cohort.db")}` });
  try {
    const rs = await client.execute({
      sql: "SELECT api_extensions FROM core_cluster_members WHERE name = ?",
      args: [m2.name],
    });
    const list = JSON.parse(String(rs.rows[0][0])) as string[];
    assert.ok(list.includes(LINK_PROOF_EXTENSION), `${m2.name}'s stored list ${list}`);
    await client.execute({
      sql: "UPDATE core_cluster_members SET api_extensions = ? WHERE name = ?",
      args: [JSON.stringify(list.filter((e) => e !== LINK_PROOF_EXTENSION)), m2.name],
    });
  } finally {
    client.close();
  }
}

test("a rolling upgrade: m1 restarted while m2 (down) last ran a release without the link proof reads 700 KB frames from a dialler without it", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  await ctx.cluster.stop(m1);
  await ctx.cluster.stop(m2);
  await rememberAsOld(m1, m2);
  await ctx.cluster.start(m1);
  const before = rejected(m1);
  assert.is(await sendAs(m2, m1, euroFrame(700_000), false), 0);
  assert.is(await sendAs(m2, m1, euroFrame(LEGACY_MAX_FRAME_BYTES + 1024), false), 1009);
  assert.is(lines(m1, ENDED), 0);
  assert.is(lines(m1, HELD), 0);
  await waitUntil(() => Promise.resolve(rejected(m1) > before), "m1 logs the rejection", 10_000);
  const kept = ctx.kept = await dialAs(m2, m1, false);
  ctx.keptClosed = new Promise((resolve) => kept.once("close", (code) => resolve(code)));
});

test("once the last member runs this release, a dialler without the link proof is held to MAX_FRAME_BYTES (1009)", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  assert.is(ctx.kept!.readyState, WebSocket.OPEN, "the kept connection is open");
  await ctx.cluster.start(m2);
  await waitUntil(() => Promise.resolve(lines(m1, ENDED) > 0), "m1 logs the switch", 30_000);
  assert.is(await sendAs(m2, m1, euroFrame(700_000), false), 1009);
  // The connection dialled without the proof before the switch was cut with it.
  const timeout = new Promise<string>((resolve) => setTimeout(resolve, 10_000, "still open"));
  assert.type(await Promise.race([ctx.keptClosed!, timeout]), "number");
});

test("restarted alone, a member holds a dialler without the link proof at once: the switch is read from its store", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  await ctx.cluster.stop(m2);
  await ctx.cluster.stop(m1);
  await ctx.cluster.start(m1);
  assert.is(await sendAs(m2, m1, euroFrame(700_000), false), 1009);
  assert.is(lines(m1, ENDED), 1);
  await ctx.cluster.start(m2);
});

test("after these frames and restarts both members list each other ONLINE", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  await waitUntil(
    async () => {
      for (const m of [m1, m2]) {
        const view = await ctx.cluster.view(m);
        if (view.length !== 2 || !view.every((e) => e.status === "ONLINE")) return false;
      }
      return true;
    },
    "both ONLINE",
    30_000,
  );
});

test.run();
