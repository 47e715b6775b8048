/**
 * What an operating-system crash leaves of a member's state directory, checked on real daemons
 * in the manner of ALICE (application-level crash consistency): three members of an app
 * (`crash_order_app.ts`) go through a user's journey (`crash_order_journey.ts`: bootstrap,
 * tokens, two joins, roles, records, an extension server's address, a removal, shutdown), each
 * daemon under strace. From each trace:
 * 1. the order of its durable writes (`crash_order_check.ts`): the state directory and every
 *    file in it but SQLite's is synced before it is renamed into place, durable (data and name)
 *    before the member answers a changing request on its control socket or logs a durable step,
 *    and never rewritten in place;
 * 2. the states a crash could leave at each of those points (`crash_states.ts`), sampled with a
 *    seed (printed), each started as the member (`crash_state_start.ts`): it must start and
 *    serve, or refuse naming the file; never lose its init, the members it admitted or a claim.
 *
 * `COHORT_CRASH_STATES` sets how many states (20 by default); `COHORT_CRASH_TRACES=DIR` keeps
 * the journey there (traces, steps); `COHORT_CRASH_REPLAY=DIR` with `COHORT_CRASH_SEED` replays
 * a kept journey's states exactly, without running it again.
 *
 * Needs root (the fault matrix) and strace (installed with apt-get when missing); registered
 * through `faultTest`, so it skips visibly where it cannot run.
 */
import process from "node:process";
import { dirname, join } from "node:path";
import * as assert from "uvu/assert";
import { daemonsLastLines, type Member, stopMembers } from "../helpers/cluster.ts";
import { suite } from "../helpers/suite.ts";
import { removeDir, tempDir } from "../helpers/process.ts";
import { checkOrder, type Violation } from "./crash_order_check.ts";
import { APP, journey, replayJourney } from "./crash_order_journey.ts";
import { parseTrace } from "./crash_trace.ts";
import { judgeStart, lostClaims } from "./crash_state_start.ts";
import { type CrashState, crashState, materialize, type Pick, signature } from "./crash_states.ts";
import { createRandom } from "../../gossip/random.ts";
import { faultTest } from "./suite.ts";
import { ensureCommand, load, underCi } from "./system.ts";

const members: Member[] = [];
const test = suite("an operating-system crash", {}, () => daemonsLastLines(members, 30));
/** Where the traces go: `COHORT_CRASH_TRACES` keeps them there, else removed after the test. */
const keep = process.env.COHORT_CRASH_TRACES;
const traceDir = keep ?? tempDir("cohort-crashorder-");
test.after(async () => {
  await stopMembers(members);
  // Each state directory is `state` in a temporary directory of its own.
  for (const m of members) removeDir(dirname(m.dir));
  if (!keep) removeDir(traceDir);
});

const seed = Number(process.env.COHORT_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const count = Number(process.env.COHORT_CRASH_STATES ?? 20);

/** The crash states of `m`'s points, one per distinct content, and `count` of them sampled. */
function sample(
  candidates: { m: Member; state: CrashState }[],
  rnd: () => number,
): { m: Member; state: CrashState }[] {
  const unique = new Map<string, { m: Member; state: CrashState }>();
  for (const c of candidates) unique.set(`${c.m.name}|${signature(c.state)}`, c);
  const all = [...unique.values()];
  // States where a crash lost something first (the lock's bytes alone are lost at every point:
  // a start reclaims a stale lock), then the lock alone, then states as written.
  const rank = (c: { state: CrashState }) =>
    c.state.choices.some((x) => !x.startsWith("daemon.pid ")) ? 0 : c.state.choices.length ? 1 : 2;
  const picked: typeof all = [];
  for (const level of [0, 1, 2]) {
    const pool = all.filter((c) => rank(c) === level);
    while (pool.length && picked.length < count) {
      picked.push(pool.splice(Math.floor(rnd() * pool.length), 1)[0]);
    }
  }
  return picked;
}

faultTest(
  test,
  "a user's journey: durable order, and every sampled crash state starts",
  async () => {
    const missing = ensureCommand("strace", "strace");
    if (missing) {
      if (underCi) assert.unreachable(`no strace: ${missing}`);
      console.log(`SKIPPED (no strace: ${missing})`);
      return;
    }
    const started = Date.now();
    const replay = process.env.COHORT_CRASH_REPLAY;
    if (replay) console.log(`replaying the journey kept in ${replay}`);
    const { steps, traces } = replay
      ? replayJourney(replay)
      : await journey(traceDir, (m) => members.push(m));
    console.log(`journey: ${((Date.now() - started) / 1000).toFixed(1)} s, ${load()}`);
    console.log(
      `steps: ${steps.map((s) => `${s.name} +${(s.at - steps[0].at).toFixed(2)}`).join(", ")}`,
    );

    const violations: (Violation & { member: string })[] = [];
    const { next: rnd } = createRandom(seed);
    const candidates: { m: Member; state: CrashState }[] = [];
    for (const [m, text] of traces) {
      const ops = parseTrace(text);
      // A trace that misses the file operations (a runtime doing them through io_uring, which
      // strace cannot see) would pass every rule: it must show the writes it is known to make.
      const replaced = ops.filter((o) => o.kind === "rename" && o.to.startsWith(`${m.dir}/`));
      assert.ok(replaced.length > 0, `${m.name}'s trace shows no file renamed into its state dir`);
      assert.ok(ops.some((o) => o.kind === "sync" && o.path === m.dir), `${m.name}: no dir sync`);
      const { violations: found, acks } = checkOrder(ops, m.dir, steps);
      assert.ok(acks.length > 0, `${m.name}'s trace shows no answer on its control socket`);
      violations.push(...found.map((v) => ({ ...v, member: m.name })));
      console.log(`${m.name}: ${ops.length} operations, ${acks.length} answers`);
      for (const point of acks) {
        for (const pick of ["synced", "written", "mixed", "mixed", "mixed"] as Pick[]) {
          candidates.push({ m, state: crashState(point, m.dir, pick, rnd) });
        }
      }
    }
    const report = violations.map((v) => `${v.member} ${v.file}: ${v.problem} [step: ${v.step}]`);

    const chosen = sample(candidates, rnd);
    console.log(
      `crash states: seed ${seed} (COHORT_CRASH_SEED), ${chosen.length} of ${candidates.length}`,
    );
    const bad: string[] = [];
    for (const [i, { m, state }] of chosen.entries()) {
      const what = `${m.name} after "${state.point.answer}" in step "${state.point.step}"` +
        (state.choices.length ? ` (${state.choices.join("; ")})` : " (as written)");
      const lost = lostClaims(state);
      const copy = {
        ...m,
        dir: join(tempDir(`cohort-crash-${m.name}-`), "state"),
        daemon: undefined,
      };
      members.push(copy);
      try {
        materialize(state, copy.dir);
        const wrong = lost ?? await judgeStart(copy, state, APP);
        console.log(`state ${i + 1}: ${what}: ${wrong ? `BAD: ${wrong}` : "ok"}`);
        if (wrong) bad.push(`${what}: ${wrong}`);
      } finally {
        removeDir(dirname(copy.dir));
      }
    }
    console.log(`total: ${((Date.now() - started) / 1000).toFixed(1)} s, ${load()}`);
    assert.equal(report, [], `durable order broken:\n${report.join("\n")}`);
    assert.equal(
      bad,
      [],
      `bad crash states (seed ${seed}; COHORT_CRASH_TRACES keeps the journey to replay):\n${
        bad.join("\n\n")
      }`,
    );
  },
);

test.run();
