/**
 * End to end, with real member daemons on loopback: frames from a member of a release before
 * link proofs. Such a member chunks state by JSON chars, so a full-state exchange of records of
 * euro signs (3 UTF-8 bytes each) reaches an upgraded member in frames of up to some 770 KiB,
 * over MAX_FRAME_BYTES; refused (1009), the upgraded member never heard the old ones during a
 * rolling upgrade (`scripts/upgrade_from.ts 00c1d24`: every old member listed it UNREACHABLE).
 * A dialler that asks for the link proof runs this release and stays held to MAX_FRAME_BYTES;
 * one that does not may send up to LEGACY_MAX_FRAME_BYTES, and no more.
 */
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { fingerprint } from "../../lib/net/certificates.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { SHARE_HEADER, shareNonce } from "../../gossip/link_proof.ts";
import { LEGACY_MAX_FRAME_BYTES, MAX_FRAME_BYTES } from "../../gossip/messages.ts";
import {
  type ClusterMember,
  type GossipCluster,
  membersLastLines,
  startGossipCluster,
  waitUntil,
} from "../helpers/gossip_cluster.ts";

interface Ctx {
  cluster: GossipCluster;
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
const rejected = (m: ClusterMember) =>
  m.proc!.logs().split("\n").filter((l) => l.includes("Gossip inbound frame rejected")).length;

/**
 * Dials `target`'s gossip socket as `as`, asking for the link proof (as this release does) or
 * not (as releases before it), sends `text` and resolves with the close code, or with 0 when
 * the connection still answers a ping after the frame.
 */
async function sendAs(
  as: ClusterMember,
  target: ClusterMember,
  text: string,
  askProof: boolean,
): Promise<number> {
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
  });
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

test("a frame of 700 KB from a dialler of an older release (no link proof asked) is read, not closed as too large", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  const before = rejected(m1);
  const text = euroFrame(700_000);
  const bytes = Buffer.byteLength(text);
  assert.ok(bytes > MAX_FRAME_BYTES && bytes <= LEGACY_MAX_FRAME_BYTES, `${bytes} bytes`);
  const code = await sendAs(m2, m1, text, false);
  assert.is(code, 0, `closed with ${code}`);
  assert.is(rejected(m1), before, "m1 logged the frame rejected");
});

test("the same frame from a dialler that asked for the link proof (this release) is closed as too large (1009)", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  const before = rejected(m1);
  assert.is(await sendAs(m2, m1, euroFrame(700_000), true), 1009);
  await waitUntil(() => Promise.resolve(rejected(m1) > before), "m1 logs the rejection", 10_000);
});

test("a frame over LEGACY_MAX_FRAME_BYTES from a dialler of an older release is closed (1009)", async (ctx) => {
  const [m1, m2] = ["m1", "m2"].map((n) => member(ctx, n));
  assert.is(await sendAs(m2, m1, euroFrame(LEGACY_MAX_FRAME_BYTES + 1024), false), 1009);
});

test("after these frames both members still list each other ONLINE", async (ctx) => {
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
    15_000,
  );
});

test.run();
