/**
 * End to end, a seeded random schedule of operations run at the same moment on real daemons:
 * four members and two spare daemons; each round picks two or three operations (removals, joins
 * through any member, one token used by two machines, a revoke beside a join, an `app-version`
 * change, record writes, a shutdown of a member, `init` twice on one joiner) and runs them at
 * once, then checks what `concurrent_invariants.ts` states for every scene: each command said
 * what happened, a token admitted at most one machine, every member lists the same members,
 * removed members are reset and stay out, no daemon logged an error.
 *
 * The seed is printed; `COHORT_CONCURRENT_SEED=S` replays a run, `COHORT_CONCURRENT_ROUNDS=N`
 * sets its length (default 5; `scripts/bench/concurrent_schedule.ts` runs a long one).
 */
import process from "node:process";
import * as assert from "uvu/assert";
import { createRandom } from "../../gossip/random.ts";
import { suite } from "../helpers/suite.ts";
import {
  api,
  daemonsLastLines,
  eventually,
  formCluster,
  isClean,
  type Member,
  members,
  startMember,
  startMembers,
  stopMembers,
} from "../helpers/cluster.ts";
import { agree, clearOutcome, forgotten, healthy, staysOut } from "./concurrent_invariants.ts";
import { type Scene, scenes } from "./concurrent_scenes.ts";

interface Ctx {
  all: Member[];
}

const seed = Number(process.env.COHORT_CONCURRENT_SEED ?? Math.floor(Math.random() * 1e9));
const rounds = Number(process.env.COHORT_CONCURRENT_ROUNDS ?? 5);

const test = suite<Ctx>(
  "a seeded random schedule of operations at once",
  undefined,
  (ctx) =>
    `seed ${seed} (COHORT_CONCURRENT_SEED=${seed} replays it)\n` +
    daemonsLastLines(ctx.all ?? [], 40),
);

test.before(async (ctx) => {
  ctx.all = [];
  const [cluster, spares] = await Promise.all([
    formCluster(["s1", "s2", "s3", "s4"]),
    startMembers(["s5", "s6"]),
  ]);
  ctx.all = [...cluster, ...spares];
});

test.after(async (ctx) => {
  await stopMembers(ctx.all ?? []);
});

/**
 * Waits until every member is settled: a member either uninitialised (clean, and saying so)
 * or initialised and listing itself; returns those initialised.
 */
async function settledMembers(all: Member[]): Promise<Member[]> {
  return await eventually("every member settled", async () => {
    const inCluster: Member[] = [];
    for (const m of all) {
      if (isClean(m)) continue;
      // A spare that won another's token joined under that name: it goes by it from here.
      const info = await api(m, "GET", "/core/1.0");
      if (info.status !== 200 || !info.body.metadata.ready) throw new Error(`${m.name} not ready`);
      m.name = info.body.metadata.name;
      const list = await members(m);
      if (!list.some((e) => e.name === m.name)) throw new Error(`${m.name} does not list itself`);
      inCluster.push(m);
    }
    // And the spare whose name it took joins under another.
    const taken = new Set(inCluster.map((m) => m.name));
    for (const m of all) if (isClean(m) && taken.has(m.name)) m.name = `${m.name}x`;
    return inCluster;
  }, 30_000);
}

test(`rounds of operations at once (seed ${seed})`, async (ctx) => {
  console.log(`  seed ${seed}, ${rounds} rounds (COHORT_CONCURRENT_SEED=${seed} replays it)`);
  const { next: random } = createRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  for (let round = 1; round <= rounds; round++) {
    const inCluster = await settledMembers(ctx.all);
    const spares = ctx.all.filter((m) => isClean(m));
    const count = 2 + Math.floor(random() * 2);
    const chosen: Scene[] = [];
    const busy = new Set<Member>();
    for (let i = 0; i < count * 3 && chosen.length < count; i++) {
      const scene = pick(scenes)({ inCluster, spares, busy, pick });
      if (scene) chosen.push(scene);
    }
    console.log(`  round ${round}: ${chosen.map((s) => s.what).join("; ")}`);
    const outcomes = await Promise.all(chosen.map((s) => s.run()));
    for (const [i, scene] of chosen.entries()) {
      for (const r of outcomes[i]) clearOutcome(r);
      await scene.check?.(outcomes[i]);
    }
    // Members shut down by a scene start again from their state directories.
    for (const m of ctx.all) {
      if (m.daemon && m.daemon.child.exitCode !== null) {
        assert.is(m.daemon.child.exitCode, 0, `${m.name} stopped cleanly`);
        await startMember(m);
      }
    }
    const now = await settledMembers(ctx.all);
    const names = now.map((m) => m.name);
    assert.ok(names.length >= 1, "the cluster keeps a member");
    await agree(now, names);
    await staysOut(now, names, 1000);
    healthy(ctx.all);
    // Before a removed name may be drawn to join again (see `forgotten`).
    await forgotten(now);
  }
});

test.run();
