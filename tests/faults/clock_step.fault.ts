/**
 * A member's wall clock steps while it runs, as NTP stepping a drifted clock, a VM resumed
 * after hours or `date -s` do it. Real daemons; the stepped member runs with `clock_step.c`
 * preloaded (`clock_step.ts`), which adds the offset written in a file to CLOCK_REALTIME,
 * gettimeofday and time() (the monotonic clock is left alone, as a real step leaves it).
 *
 * - The clock steps +10 min, −10 min (20 min back at once), +2 h and back to the true time;
 *   after each step the cluster must stay as it was: every member sees every other ONLINE,
 *   nobody suspects or declares anyone dead, the stepped member's gossip connections are neither
 *   cut nor dialled anew, and its join tokens keep wall-clock dates (a token it issues expires by
 *   its stepped clock; one it issued 10 min back admits a member).
 * - A member suspected when the clock steps forwards is not declared dead for the step.
 * - A joiner whose clock steps forwards while a member it asks does not answer still asks the
 *   next one (the join's deadline is a duration).
 * - A member whose clock steps forwards does not drop a join under way (held up by its joiner's
 *   disk) as under way for 10 min.
 * - `cohort waitready` whose clock steps forwards keeps waiting for its timeout.
 * - A member restarted for an upgrade whose clock steps forwards past the upgrade's dead grace
 *   keeps counting a member down since (it dropped it from the cluster's common extensions and
 *   its gate at once); the grace still runs out on the time it observed.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  api,
  bootstrapAndJoin,
  daemonsLastLines,
  decode,
  encode,
  eventually,
  EXTENSIONS,
  issueToken,
  type Member,
  members,
  newMember,
  run,
  stop,
} from "../helpers/cluster.ts";
import { formWith, isReady, startWith } from "../helpers/upgrade.ts";
import { value } from "../helpers/metrics.ts";
import { cohort } from "../helpers/process.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cleanUp, logged, start, type StepCtx, stepper, until } from "./clock_step.ts";
import { load } from "./system.ts";
import { faultTest } from "./suite.ts";

/** The steps of the stepped member's wall clock, as offsets from the true time (ms). */
const OFFSETS = [10 * 60_000, -10 * 60_000, 2 * 3_600_000, 0];
/** How long the cluster is watched after each step, ms (several probe rounds of `local`). */
const WATCH_MS = 3_000;
/** Log lines that must not appear anywhere: a suspicion, a verdict, a connection given up. */
const TROUBLE = /suspect|dead|unresponsive|Removing an unreachable/i;
const TEN_MIN = 10 * 60_000;
/**
 * How long a joiner's disk holds its commit's sync, ms: two of a member's checks of joins
 * under way (every 10 s) and a margin for a loaded machine, within the CLI's 40 s for a join.
 */
const COMMIT_STALL_MS = 28_000;

const test = suite<StepCtx>("a member's wall clock steps");

test.before.each((ctx) => {
  ctx.members = [];
});

test.after.each(cleanUp);

/** The log lines of `m` about trouble (see {@link TROUBLE}). */
function trouble(m: Member): string[] {
  return logged(m, TROUBLE).map((l) => JSON.stringify(l));
}

/** Connections `m` has dialled since it started (`cohort_gossip_dials_total`). */
async function dials(m: Member): Promise<number> {
  const r = await run(m, ["metrics"]);
  assert.is(r.code, 0, r.stderr);
  return value(r.stdout, "cohort_gossip_dials_total") ?? 0;
}

/** Whether every member of `list` sees every member ONLINE. */
async function allOnline(list: Member[]): Promise<string | undefined> {
  for (const m of list) {
    const view = await members(m);
    const bad = list.filter((o) => view.find((e) => e.name === o.name)?.status !== "ONLINE");
    if (bad.length) return `${m.name} sees ${bad.map((o) => o.name).join(", ")} not ONLINE`;
  }
  return undefined;
}

/**
 * Forms a, b, c and s, s under the clock shim: the members and `step(ms)`, which sets s's wall
 * clock to the true time plus `ms`; `undefined` (and a visible skip) when the shim cannot be built.
 */
async function formStepped(
  ctx: StepCtx,
): Promise<{ list: Member[]; step: (ms: number) => void } | undefined> {
  const clock = stepper(ctx);
  if (!clock) return undefined;
  const list: Member[] = [];
  for (const name of ["a", "b", "c", "s"]) list.push(await newMember(name));
  ctx.members.push(...list);
  await Promise.all(list.slice(0, 3).map((m) => start(m)));
  await start(list[3], clock.env);
  await bootstrapAndJoin(list);
  return { list, step: clock.step };
}

faultTest(test, "the cluster does not notice a member's clock stepping", async (ctx) => {
  const formed = await formStepped(ctx);
  if (!formed) return;
  const { list, step } = formed;
  const s = list[3];
  const context = () => `${load()}\n${daemonsLastLines(ctx.members)}`;
  // Formation may suspect a member still starting: only what follows the steps counts.
  await new Promise((r) => setTimeout(r, WATCH_MS));
  const troubleBefore = list.map((m) => trouble(m).length);
  const dialsBefore = await dials(s);
  let backToken: string | undefined;
  for (const offset of OFFSETS) {
    step(offset);
    const expireAfterMs = 3_600_000;
    const issued = Date.now();
    // The token of the backward step is the one member d joins with (a token names its joiner).
    const name = offset < 0 ? "d" : `t${offset}`;
    const res = await api(s, "POST", "/core/control/tokens", {
      name,
      expire_after: expireAfterMs * 1e6,
    });
    assert.is(res.status, 200, `tokens add at offset ${offset}: ${JSON.stringify(res.body)}`);
    if (offset < 0) backToken = res.body.metadata;
    const listed = await api(s, "GET", "/core/control/tokens");
    const tokens = listed.body.metadata as { name: string; expires_at: string }[];
    const mine = tokens.find((t) => t.name === name);
    assert.ok(mine, `the token issued at offset ${offset} is not listed`);
    // A date follows the wall clock, stepped or not (a minute for the time the request took).
    const expected = issued + offset + expireAfterMs;
    const drift = Math.abs(Date.parse(mine!.expires_at) - expected);
    assert.ok(drift < 60_000, `token issued at offset ${offset}: expires ${mine!.expires_at}`);
    const until = Date.now() + WATCH_MS;
    while (Date.now() < until) {
      const problem = await allOnline(list);
      assert.not(problem, `after a step to ${offset} ms: ${problem}\n${context()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // Heartbeats are reported as dates of the stepped member's own wall clock.
    for (const e of await members(s)) {
      const late = Date.now() + offset - Date.parse(e.last_heartbeat);
      assert.ok(
        Math.abs(late) < 30_000,
        `after a step to ${offset} ms, ${s.name} dates ${e.name}'s last heartbeat ` +
          `${e.last_heartbeat}, ${late} ms before its clock`,
      );
    }
  }
  const dialsAfter = await dials(s);
  // A token issued while the clock was 10 min back admits a member (the join's own deadlines
  // are durations, its expiry a date held by every member).
  const d = await newMember("d");
  ctx.members.push(d);
  await start(d);
  const joined = await run(d, ["init", "d", d.address, "--token", backToken!]);
  assert.is(joined.code, 0, `join with a token issued 10 min back: ${joined.stderr}\n${context()}`);
  const troubleAfter = list.map((m, i) => trouble(m).slice(troubleBefore[i]));
  console.log(
    `steps ${OFFSETS.join(", ")} ms on ${s.name}: ${dialsAfter - dialsBefore} dials by it, ` +
      `trouble lines ${troubleAfter.map((l) => l.length).join("/")} (${load()})`,
  );
  for (const [i, lines] of troubleAfter.entries()) {
    assert.equal(lines, [], `${list[i].name} logged trouble after a step:\n${lines.join("\n")}`);
  }
  assert.is(dialsAfter - dialsBefore, 0, `the stepped member dialled again\n${context()}`);
});

faultTest(
  test,
  "a member suspected when the clock steps forwards is declared dead after its suspicion's time",
  async (ctx) => {
    const formed = await formStepped(ctx);
    if (!formed) return;
    const { list, step } = formed;
    const [b, s] = [list[1], list[3]];
    await new Promise((r) => setTimeout(r, 1000));
    const pid = b.daemon!.child.pid!;
    const suspected = () =>
      logged(s, /^Membership event$/).some((l) => l.event === "member-suspect" && l.member === "b");
    const verdicts = () => logged(s, /^Suspect timeout reached/).filter((l) => l.member === "b");
    // Another member's verdict, gossiped, ends s's suspicion before its own timeout.
    const failed = () =>
      logged(s, /^Membership event$/).some((l) => l.event === "member-failed" && l.member === "b");
    // b stays stopped until s holds it dead: every run reaches a verdict, and s's own must have
    // taken the suspicion's time, not the step's.
    process.kill(pid, "SIGSTOP");
    try {
      const seen = await until(suspected, 20_000);
      assert.ok(seen, `${s.name} never suspected b, stopped 20 s\n${daemonsLastLines(list)}`);
      step(TEN_MIN);
      const reached = await until(failed, 40_000);
      assert.ok(reached, `${s.name} never held b dead\n${daemonsLastLines(list)}`);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const [verdict] = verdicts();
    const held = verdict?.held_ms as number | undefined;
    const min = verdict?.min_ms as number | undefined;
    console.log(
      `b stopped, ${s.name}'s clock stepped +10 min once it suspected b: ` +
        (verdict
          ? `${s.name} declared it dead after ${held} ms suspected (shortest ${min} ms)`
          : `another member's verdict reached ${s.name} first`) +
        ` (${load()})`,
    );
    // Before (the engine on the wall clock): s declared b dead at once after the step, before
    // any other member could, held_ms 600 088-600 918.
    if (verdict) {
      assert.ok(
        held! >= min! && held! < 60_000,
        `${s.name} declared b dead after ${held} ms suspected (shortest ${min} ms): the step ` +
          `counted\n${daemonsLastLines([s])}`,
      );
    }
  },
);

faultTest(
  test,
  "a joiner whose clock steps forwards while a member it asks does not answer asks the next",
  async (ctx) => {
    const clock = stepper(ctx);
    if (!clock) return;
    const list: Member[] = [];
    for (const name of ["a", "b", "c"]) list.push(await newMember(name));
    ctx.members.push(...list);
    await Promise.all(list.map((m) => start(m)));
    await bootstrapAndJoin(list);
    const [a, b] = list;
    const d = await newMember("d");
    ctx.members.push(d);
    await start(d, clock.env);
    // The token names b first, and b is stopped: the join's first request waits for it, for
    // its share of the join's deadline, and the next goes to a.
    const token = decode(await issueToken(a, "d"));
    const first = { ...token, join_addresses: [b.address, a.address] };
    const pid = b.daemon!.child.pid!;
    process.kill(pid, "SIGSTOP");
    let r;
    try {
      const joined = run(d, ["init", "d", d.address, "--token", encode(first)]);
      // The join's mark is written right before its first request, its deadline set before it.
      const marked = await until(() => existsSync(join(d.dir, "transition.json")), 30_000);
      assert.ok(marked, `d's join never started\n${daemonsLastLines([d])}`);
      // Before, by when the step landed: "Join not requested: its mark took 600 s to reach the
      // disk, past the join's deadline; is the disk stalled?", or the request to a found the
      // join 10 min past its deadline and was never sent ("Join gave up").
      clock.step(TEN_MIN);
      r = await joined;
    } finally {
      process.kill(pid, "SIGCONT");
    }
    console.log(`a join whose clock stepped +10 min: exit ${r.code} (${load()})`);
    assert.is(r.code, 0, `${r.stderr}\n${daemonsLastLines([a, d])}`);
  },
);

faultTest(
  test,
  "a member whose clock steps forwards does not drop a join under way",
  async (ctx) => {
    const clock = stepper(ctx);
    if (!clock) return;
    const a = await newMember("a");
    const s = await newMember("s");
    const d = await newMember("d");
    ctx.members.push(a, s, d);
    await start(a);
    await start(s, clock.env);
    await bootstrapAndJoin([a, s]);
    // d's commit waits for its disk (the sync of its prepared `daemon.json`) long enough for two
    // of s's checks of joins under way (every 10 s): admitted, still joining, healthy.
    await start(d, {
      LD_PRELOAD: clock.compile("slow_fsync.c"),
      SLOW_FSYNC_MATCH: "daemon.json.next",
      SLOW_FSYNC_MS: String(COMMIT_STALL_MS),
    });
    const joined = run(d, ["init", "d", d.address, "--token", await issueToken(a, "d")]);
    const checks = () => logged(s, /^A join under way$/).filter((l) => l.name === "d");
    const seen = await until(() => checks().length > 0, COMMIT_STALL_MS);
    assert.ok(seen, `s never timed d's join\n${daemonsLastLines([a, s, d])}`);
    // Before: s's next check found the join under way for 10 min and dropped it.
    clock.step(TEN_MIN);
    const checked = await until(() => checks().length > 1, COMMIT_STALL_MS);
    const r = await joined;
    const dropped = logged(s, /whose join never completed/);
    console.log(
      `a join under way while s's clock stepped +10 min: s checked it ${checks().length} ` +
        `times, dropped ${dropped.length}, join exit ${r.code} (${load()})`,
    );
    assert.equal(dropped, [], "s dropped a join under way");
    assert.ok(checked, `s checked d's join only before the step: the stall ended first`);
    assert.is(r.code, 0, `${r.stderr}\n${daemonsLastLines([a, s, d])}`);
    const problem = await allOnline([a, s, d]);
    assert.not(problem, problem);
  },
);

faultTest(
  test,
  "cohort waitready whose clock steps forwards waits for its whole timeout, not at once past it",
  async (ctx) => {
    const clock = stepper(ctx);
    if (!clock) return;
    const a = await newMember("a");
    ctx.members.push(a);
    // No daemon yet: the command asks every 100 ms until its timeout (60 s).
    let ended = false;
    const waiting = cohort(["waitready", "--timeout", "60", "--state-dir", a.dir], "", clock.env)
      .finally(() => (ended = true));
    await new Promise((r) => setTimeout(r, 1500));
    assert.not.ok(ended, "waitready ended before its clock stepped");
    // Before: its deadline was a wall-clock date, 10 min behind it after the step: "Error: the
    // daemon was not ready after 60 s" at once.
    clock.step(TEN_MIN);
    const gaveUp = await until(() => ended, 3000);
    if (gaveUp) assert.unreachable(`waitready gave up at the step: ${(await waiting).stderr}`);
    await start(a);
    const r = await waiting;
    console.log(`waitready across a +10 min step: exit ${r.code} (${load()})`);
    assert.is(r.code, 0, r.stderr);
  },
);

faultTest(
  test,
  "a member restarted for an upgrade whose clock steps past the dead grace keeps counting a member down since",
  async (ctx) => {
    const clock = stepper(ctx);
    if (!clock) return;
    const NEW = [...EXTENSIONS, "feature_z"];
    // Long enough for the steps below on a loaded machine, short enough to see it run out.
    const flags = ["--upgrade-dead-grace", "30s"];
    const [u1, u2] = await formWith(["u1", "u2"], (n) => ({
      flags,
      env: n === "u1" ? clock.env : {},
    }));
    ctx.members.push(u1, u2);
    // u2 goes down (to upgrade, say), u1 restarts upgraded: it waits for u2, which counts with
    // what it last ran for the grace, from u1's start.
    await stop(u2);
    await stop(u1);
    await startWith(u1, { extensions: NEW, flags, env: clock.env });
    assert.is(await isReady(u1), false, "u1 waits for u2, behind");
    const common = async () => {
      const res = await api(u1, "GET", "/core/1.0/extensions");
      assert.is(res.status, 200, JSON.stringify(res.body));
      return res.body.metadata.cluster as string[];
    };
    assert.not.ok((await common()).includes("feature_z"), "u2 counts, down for seconds");
    // Before: the grace compared wall dates, and u2 stopped counting at the step (feature_z
    // common to every member, u2 excluded from the gate at its next decision).
    clock.step(TEN_MIN);
    await new Promise((r) => setTimeout(r, 1000));
    assert.not.ok((await common()).includes("feature_z"), "u2 counts after u1's clock stepped");
    assert.is(logged(u1, /excluded from upgrade gating/).length, 0, "u2 not excluded");
    // The grace runs out on the time u1 observed: then u2 stops counting, and u1 serves.
    await eventually("u1 leaving u2 out after the grace", async () => {
      return (await common()).includes("feature_z") && await isReady(u1);
    }, 90_000);
  },
);

test.run();
