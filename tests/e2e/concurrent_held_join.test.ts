/**
 * End to end, three real member daemons on loopback and a joiner made in this process with
 * `createMember`, whose `preJoin` hook waits until the test lets it go: the join is held under
 * way (admitted by the cluster, its roster record marked joining) while an operator runs
 * `cohort cluster remove` of it, or removes the member that admitted it. Afterwards
 * (`concurrent_invariants.ts`): the commands said what happened, the members agree, and the
 * joiner is either a member every member lists or uninitialised and listed nowhere, for good.
 */
import process from "node:process";
import * as assert from "uvu/assert";
import { createMember, type Daemon, silentLogger } from "../../mod.ts";
import { inProcessIssuer } from "../../lib/net/cert_issuer.ts";
import { suite } from "../helpers/suite.ts";
import {
  daemonsLastLines,
  eventually,
  EXTENSIONS,
  formCluster,
  isClean,
  issueToken,
  joinVia,
  type Member,
  members,
  run,
  stopMembers,
} from "../helpers/cluster.ts";
import { freePort, removeDir, tempDir } from "../helpers/process.ts";
import { agree, clearOutcome, healthy, labelled, staysOut } from "./concurrent_invariants.ts";

interface Ctx {
  cluster: Member[];
  joiners: { daemon: Daemon; dir: string }[];
}

const test = suite<Ctx>(
  "a removal while a join is held under way",
  undefined,
  (ctx) => daemonsLastLines(ctx.cluster ?? [], 40),
);

const NAMES = ["h1", "h2", "h3"];

test.before(async (ctx) => {
  ctx.joiners = [];
  ctx.cluster = await formCluster(NAMES);
});

test.after(async (ctx) => {
  await Promise.all((ctx.joiners ?? []).map((j) => j.daemon.stop()));
  for (const j of ctx.joiners ?? []) removeDir(j.dir);
  await stopMembers(ctx.cluster ?? []);
});

// Each test starts from the three members (a test may remove one of them).
test.before.each(async (ctx) => {
  const via = ctx.cluster.find((m) => !isClean(m))!;
  // A joiner a failed test left in the cluster goes first.
  for (const e of await members(via)) {
    if (!NAMES.includes(e.name)) await run(via, ["cluster", "remove", e.name, "--force"]);
  }
  for (const m of ctx.cluster) if (isClean(m)) await joinVia(via, m);
  await agree(ctx.cluster, NAMES);
});

/** A joiner whose `preJoin` waits: `entered` resolves once it runs, `release()` lets it go. */
async function heldJoiner(ctx: Ctx) {
  let entered!: () => void;
  let release!: () => void;
  const inHook = new Promise<void>((r) => (entered = r));
  const released = new Promise<void>((r) => (release = r));
  const dir = tempDir("cohort-held-");
  const daemon = await createMember({
    stateDir: dir,
    extensions: EXTENSIONS,
    gossipPreset: "local",
    logger: process.env.DEBUG_E2E ? undefined : silentLogger,
    hooks: {
      preJoin: async () => {
        entered();
        await released;
      },
    },
    certificateIssuer: inProcessIssuer,
  });
  ctx.joiners.push({ daemon, dir });
  return { daemon, dir, inHook, release, address: `127.0.0.1:${await freePort()}` };
}

/** What the held join came to: "joined", or its error's message. */
function settled(p: Promise<unknown>): Promise<string> {
  return p.then(() => "joined", (err: Error) => err.message);
}

const SCENES = [
  { through: "the admitting member", force: false },
  { through: "another member", force: false },
  { through: "another member", force: true },
] as const;

for (const [i, { through, force }] of SCENES.entries()) {
  const flag = force ? " --force" : "";
  // A name of its own per scene: a name removed and joined again at once meets a gossip-layer
  // defect (see `forgotten` in concurrent_invariants.ts) this test is not about.
  const hj = `hj${i}`;
  test(`cluster remove${flag} of a joiner held in preJoin, through ${through}`, async (ctx) => {
    const [h1, h2] = ctx.cluster;
    const j = await heldJoiner(ctx);
    const token = await issueToken(h1, hj);
    const joining = settled(
      j.daemon.initialize({ bootstrap: false, name: hj, address: j.address, join_token: token }),
    );
    await j.inHook;
    const via = through === "the admitting member" ? h1 : h2;
    const argv = ["cluster", "remove", hj, ...(force ? ["--force"] : [])];
    const r = await labelled(`remove${flag} ${hj} through ${via.name}`, run(via, argv));
    j.release();
    const joined = await joining;
    console.log(`  the held join: ${joined}`);
    // Not forced, a join under way is not removed: the command says so and how to go on.
    clearOutcome(r, force ? [] : [new RegExp(`"${hj}".*join is under way`)]);
    if (r.code === 0 && joined !== "joined") {
      // Removed: the join must not complete behind the removal, and says why it did not.
      assert.match(joined, /removed while it joined/, "the joiner is told it was removed");
      await agree(ctx.cluster, NAMES);
      await staysOut(ctx.cluster, NAMES);
      assert.is(j.daemon.status(), "uninitialized");
      assert.ok(isClean({ dir: j.dir } as Member), "the removed joiner is clean");
    } else if (r.code === 0) {
      // The tombstone reached the joiner only after it committed: it was joined, then removed.
      await eventually(
        "the joiner reset",
        () => Promise.resolve(j.daemon.status() === "uninitialized"),
        60_000,
      );
      await agree(ctx.cluster, NAMES);
      await staysOut(ctx.cluster, NAMES);
    } else {
      // Refused: the join goes on and completes.
      assert.is(joined, "joined");
      await agree(ctx.cluster, [...NAMES, hj]);
      const rm = await run(h1, ["cluster", "remove", hj]);
      assert.is(rm.code, 0, rm.stderr);
      await agree(ctx.cluster, NAMES);
    }
    healthy(ctx.cluster);
  });
}

test("the admitting member removed while the join it admitted is held", async (ctx) => {
  const [h1, h2] = ctx.cluster;
  const j = await heldJoiner(ctx);
  const token = await issueToken(h1, "hk");
  const joining = settled(
    j.daemon.initialize({ bootstrap: false, name: "hk", address: j.address, join_token: token }),
  );
  await j.inHook;
  const r = await labelled("remove h1 through h2", run(h2, ["cluster", "remove", "h1"]));
  j.release();
  const joined = await joining;
  console.log(`  the held join: ${joined}`);
  clearOutcome(r);
  assert.is(r.code, 0, r.stderr);
  // Nobody vouches for a join whose admitting member left: it is undone, or, when the joiner
  // heard of it only after it committed, it resets as a removed member.
  if (joined !== "joined") assert.match(joined, /removed while it joined/);
  await eventually(
    "the joiner uninitialised",
    () => Promise.resolve(j.daemon.status() === "uninitialized"),
    30_000,
  );
  const left = ctx.cluster.filter((m) => m !== h1);
  await agree(left, ["h2", "h3"]);
  await staysOut(left, ["h2", "h3"]);
  healthy(ctx.cluster);
});

test.run();
