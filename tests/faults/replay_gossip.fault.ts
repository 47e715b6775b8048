/**
 * Issue 12's gossip defects (2 to 4) replayed across network namespaces: a member turned
 * hostile (its own certificate, from its own namespace) sends forged gossip frames to another
 * member, and the cluster must stay whole: nobody declared dead, no version asserted for
 * another member, no roster record written for a member nobody admitted, no flood of the
 * member table.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { setTimeout as sleep } from "node:timers/promises";
import { MAX_FRAME_BYTES } from "../../gossip/messages.ts";
import { generateCertificate } from "../../lib/net/certificates.ts";
import { api, eventually } from "../helpers/cluster.ts";
import { attack, wireMeta } from "./attack.ts";
import { NsCohort } from "./cohort_members.ts";
import { FaultNet } from "./netns.ts";
import { note } from "./scenarios.ts";
import { faultTest as define, unsupported } from "./suite.ts";

const MAX = Number.MAX_SAFE_INTEGER; // 2^53 − 1

interface Ctx {
  net: FaultNet;
  c: NsCohort;
}

/** A suite with its own network of `size` nodes and a cluster formed on the first `formed`. */
function replay(name: string, size: number, formed: number) {
  const test = suite<Ctx>(name);
  test.before(async (ctx) => {
    if (unsupported) return;
    ctx.net = FaultNet.create(size);
    ctx.c = new NsCohort(ctx.net, { preset: "local" });
    await ctx.c.form([...Array(formed).keys()]);
  });
  test.after(async (ctx) => {
    await ctx.c?.close();
    ctx.net?.destroy();
  });
  return test;
}

// --- defect 2: a suspicion at incarnation 2^53 − 1 ---------------------------------------------

const suspect = replay("replay defect 2: suspect at 2^53-1", 4, 4);
define(suspect, "a forged suspicion of m3 at 2^53-1 leaves m3 ONLINE everywhere", async ({ c }) => {
  const t0 = Date.now();
  const r = attack(c, 2, 0, [{
    t: "gossip",
    f: "m2",
    pb: [{ k: "suspect", n: "m3", i: MAX, by: "m2" }],
  }]);
  assert.is(r.status, 101, `the attacker's own certificate is a member's: ${JSON.stringify(r)}`);
  // Longer than the local preset's longest suspicion timeout (18 s) and a push-pull round.
  await sleep(20_000);
  const failed = c.members.flatMap((_, i) =>
    c.events(i, t0).filter((e) => e.event === "member-failed" && e.member === "m3")
  );
  assert.equal(failed.length, 0, `m3 declared dead ${failed.length} times`);
  assert.is(await c.disagreement([0, 1, 2, 3], c.names()), undefined);
});

suspect.run();

// A cluster of its own: a failure of the test above leaves m3 dead at 2^53 − 1.
const versions = replay("replay defect 2: versions asserted for another member", 4, 4);
define(versions, "an alive frame asserting schema 99 for m3 changes no store", async ({ c }) => {
  const real = (await wireMeta(c, 3)).si;
  const meta = await wireMeta(c, 3, { si: 99 });
  const r = attack(c, 2, 0, [{
    t: "gossip",
    f: "m2",
    pb: [{ k: "alive", n: "m3", i: MAX, m: meta }],
  }]);
  assert.is(r.status, 101);
  await sleep(3000);
  for (const i of [0, 1, 2, 3]) {
    const m3 = (await c.view(i)).find((e) => e.name === "m3");
    assert.is(m3?.schema_internal_version, real, `m3's version on ${c.members[i].name}`);
  }
  // A member that restarts must still start: nobody is "ahead" at version 99.
  await c.stop(1);
  await c.start(1);
  const ready = await c.cli(1, ["waitready", "--timeout", "30"]);
  assert.is(
    ready.code,
    0,
    `m1 restarts: ${ready.stderr}\n${c.members[1].daemon?.logs().slice(-2000)}`,
  );
});

versions.run();

// --- defect 3: a forged roster record ---------------------------------------------------------

const roster = replay("replay defect 3: forged roster record", 4, 4);
define(roster, "a roster record for a member nobody admitted is never trusted", async (ctx) => {
  const { c } = ctx;
  const ghost = await generateCertificate({ name: "ghost" });
  const record = {
    kind: "member",
    key: "ghost",
    value: {
      address: "10.77.0.99:7443",
      certificate: ghost.cert,
      fingerprint: ghost.fingerprint,
      joinedAt: Date.now(),
    },
    version: MAX,
    origin: "m2",
  };
  const r = attack(c, 2, 0, [{ t: "gossip", f: "m2", pb: [{ k: "rec", r: record }] }]);
  assert.is(r.status, 101);
  await sleep(3000);
  // The ghost's certificate opens no member's gossip socket (from m1's namespace).
  for (const i of [0, 1, 3]) {
    const probe = attack(c, 1, i, [], { cert: ghost.cert, key: ghost.key });
    assert.is(probe.status, 403, `ghost's certificate on ${c.members[i].name}: ${probe.status}`);
  }
  // Wherever the ghost is listed, removing it works and wins everywhere.
  const listed = (await Promise.all([0, 1, 2, 3].map((i) => c.view(i))))
    .some((v) => v.some((e) => e.name === "ghost"));
  if (listed) {
    const rm = await c.cli(0, ["cluster", "remove", "ghost", "--force"]);
    assert.is(rm.code, 0, `cluster remove ghost --force: ${rm.stderr}`);
    await eventually("ghost gone everywhere", async () => {
      for (const i of [0, 1, 2, 3]) {
        if ((await c.view(i)).some((e) => e.name === "ghost")) return false;
      }
      return true;
    }, 15_000);
  }
});

roster.run();

// --- defect 4: a flood of fake members --------------------------------------------------------

const flood = replay("replay defect 4: member table flood", 5, 4);
define(flood, "21 000 fake members neither split views nor stop a join", async ({ c }) => {
  const t0 = Date.now();
  const meta = await wireMeta(c, 2);
  // 21 000 fake members (the attack, then in four frames under the 1 MiB frame limit),
  // in twelve frames under today's MAX_FRAME_BYTES (384 KiB): a larger one closes its
  // connection unread.
  const frames = Array.from({ length: 12 }, (_, f) => ({
    t: "pp",
    f: "m2",
    s: 1 + f,
    o: true,
    st: Array.from({ length: 1750 }, (_, k) => {
      const n = f * 1750 + k;
      const a = `10.99.${n >> 8}.${n & 255}:7443`;
      return { k: "alive", n: `fake${n}`, i: 1, m: { ...meta, a, fp: n.toString(36) } };
    }),
  }));
  const sizes = frames.map((f) => JSON.stringify(f).length);
  assert.ok(sizes.every((n) => n < MAX_FRAME_BYTES), `frames of ${sizes} bytes`);
  const r = attack(c, 2, 0, frames);
  assert.is(r.status, 101, JSON.stringify(r));
  assert.is(r.sent, frames.length, JSON.stringify(r));
  note(`flood of ${sizes} bytes sent: ${JSON.stringify(r)}`);
  // A push-pull round of the local preset later (15 s), a new member joins through m1.
  await sleep(16_000);
  await c.start(4);
  const token = await c.token(1, "m4");
  const m4 = c.members[4];
  const join = await c.cli(4, ["init", m4.name, m4.address, "--token", token]);
  assert.is(join.code, 0, `m4 joins: ${join.stderr}`);
  await c.waitForOneView([0, 1, 2, 3, 4], c.names(), 30_000);
  const dropped = c.members.map((m) =>
    (m.daemon?.logs() ?? "").split("\n").filter((l) =>
      l.includes("larger than maxFrameBytes") && Number(/"time":(\d+)/.exec(l)?.[1]) >= t0
    ).length
  );
  assert.equal(dropped, [0, 0, 0, 0, 0], "no anti-entropy frame dropped for its size");
  const info = await api(c.members[0], "GET", "/core/1.0");
  assert.is(info.status, 200);
});

flood.run();
