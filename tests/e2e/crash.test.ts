/**
 * Crash consistency with real processes: a member is killed with SIGKILL at thirteen points of
 * its life, timed on its own log lines (the crash point kills it as it writes the line) or on
 * another member's, or by delay; then it restarts and the test checks that
 * - it is the same member, or a clean uninitialised one where the step had not committed
 *   (a removal that returned 0, an admission whose joiner never finished);
 * - its store passes `PRAGMA integrity_check` after the kill and at the end;
 * - every member lists the same members, all ONLINE, within {@link BOUND_MS} of the restart;
 * - it can still do what the step was for (bootstrap, join again, serve, open after an upgrade).
 *
 * The points run in four chains, each on a cluster of its own, two chains at a time. Each point
 * is one test. After a point fails, its chain takes the member it left half-made out by force
 * and goes on; should that fail too, the chain's later points fail as "not run", naming why.
 * Each test prints what the member did after its restart.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  allOnline,
  api,
  bootstrap,
  decode,
  eventually,
  EXTENSIONS,
  issueToken,
  join_,
  joinVia,
  type Member,
  members,
  newMember,
  run,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import {
  crashed,
  type CrashOn,
  identity,
  integrity,
  killNow,
  settled,
  startArmed,
  stateOf,
} from "../helpers/crash.ts";
import { formWith, isReady, logged, logLines, startWith } from "../helpers/upgrade.ts";

/** Every member lists the same members, all ONLINE, within this long after a restart. */
const BOUND_MS = 30_000;
const NEW = [...EXTENSIONS, "feature_c"];
const NEWER = [...NEW, "feature_d"];
const LISTENING: CrashOn = { msg: "Listening", fields: { transport: "https" } };
const ADMITTED: CrashOn = { msg: "Admitted a new member" };
/** The departing member's first line of a removal (its role, or its phase where logged first). */
const PENDING: CrashOn = [
  { msg: "Role changed", fields: { to: "PENDING" } },
  { msg: "Phase changed", fields: { to: "removed" } },
];

/** One kill point: runs the step, the kill, the restart and the checks; says what it saw. */
interface Point<C> {
  name: string;
  run(ctx: C): Promise<string>;
}

/** Points that share one cluster, run in order. */
interface Chain<C> {
  name: string;
  setup(): Promise<C>;
  points: Point<C>[];
  /** Every member the chain started, for the final stop and integrity check. */
  all(ctx: C): Member[];
  /**
   * After a failed point: brings the cluster back to a known state (members running, a member
   * left half-joined or half-removed stopped and force-removed), so that the next points still
   * test what they name. Without it, the chain's later points are not run (and fail so).
   */
  recover?(ctx: C): Promise<void>;
}

/** The store of `m` is intact (its daemon is not running). */
async function intact(m: Member): Promise<void> {
  const result = await integrity(m);
  assert.is(result, "ok", `PRAGMA integrity_check on ${m.name}: ${result}`);
}

/** Waits for the next line of `m` matching `on` (after those already logged). */
async function nextLine(m: Member, on: CrashOn, timeoutMs = 30_000): Promise<void> {
  const count = () =>
    logLines(m).filter((l) =>
      [on].flat().some(({ msg, fields = {} }) =>
        String(l.msg ?? "").includes(msg) &&
        Object.entries(fields).every(([k, v]) => JSON.stringify(l[k]) === JSON.stringify(v))
      )
    ).length;
  const before = count();
  const deadline = Date.now() + timeoutMs;
  while (count() <= before) {
    if (Date.now() > deadline) {
      throw new Error(`${m.name} did not log ${JSON.stringify(on)} in ${timeoutMs} ms`);
    }
    await sleep(2);
  }
}

/** Waits until every member of `list` says it is ready (open). */
async function eventuallyReady(list: Member[]): Promise<void> {
  await eventually(`${names(list)} ready`, async () => {
    for (const m of list) if (!(await isReady(m))) throw new Error(`${m.name} is not ready`);
    return true;
  }, BOUND_MS);
}

const names = (list: Member[]) => list.map((m) => m.name);

// --- bootstrap ---------------------------------------------------------------------------------

/**
 * After a bootstrap was cut short: the member restarted either bootstrapped (it lists itself, its
 * tokens carry its address) or clean (and then bootstraps); either way a member joins it.
 */
async function afterBootstrap(m: Member, extra: Member[]): Promise<string> {
  let outcome: string;
  const state = stateOf(m);
  if (state === "clean") {
    await bootstrap(m);
    outcome = "restarted clean and uninitialised; bootstrapped again";
  } else {
    assert.is(state, "initialised", `${m.name} restarted ${state}`);
    const names = (await members(m)).map((e) => `${e.name}:${e.status}`);
    assert.equal(names, [`${m.name}:ONLINE`], `restarted initialised: lists ${names.join(",")}`);
    outcome = "restarted bootstrapped, listing itself";
  }
  const token = await issueToken(m, "joiner");
  assert.ok(decode(token).join_addresses.includes(m.address), "its tokens carry its address");
  const j = await newMember("joiner");
  extra.push(j);
  await startWith(j);
  const r = await join_(j, token);
  assert.is(r.code, 0, `a member joins it: ${r.stderr}`);
  await allOnline([m, j], [m.name, j.name], BOUND_MS);
  return `${outcome}; a member joined it`;
}

interface Solo {
  list: Member[];
}

function bootstrapPoint(name: string, kill: (m: Member) => Promise<void>): Point<Solo> {
  return {
    name,
    async run(ctx) {
      const m = await newMember(`b${ctx.list.length}`);
      ctx.list.push(m);
      await kill(m);
      await intact(m);
      await startWith(m);
      return await afterBootstrap(m, ctx.list);
    },
  };
}

/** Bootstraps `m` through its socket and SIGKILLs it `ms` after the request went out. */
function killedAfter(ms: number) {
  return async (m: Member) => {
    await startWith(m);
    const request = api(m, "POST", "/core/control", {
      bootstrap: true,
      name: m.name,
      address: m.address,
    }).catch(() => undefined);
    await sleep(ms);
    await killNow(m);
    await request;
  };
}

const bootstrapChain: Chain<Solo> = {
  name: "bootstrap",
  setup: () => Promise.resolve({ list: [] }),
  all: (ctx) => ctx.list,
  // Each point starts a member of its own.
  recover: () => Promise.resolve(),
  points: [
    bootstrapPoint("bootstrap: killed 30 ms into the request", killedAfter(30)),
    bootstrapPoint("bootstrap: killed 150 ms into the request", killedAfter(150)),
    bootstrapPoint("bootstrap: killed on its HTTPS Listening line", async (m) => {
      await startArmed(m, LISTENING);
      const cli = run(m, ["init", m.name, m.address, "--bootstrap"]);
      await crashed(m);
      await cli;
    }),
  ],
};

// --- join --------------------------------------------------------------------------------------

interface Cluster {
  /** Members of the cluster now. */
  members: Member[];
  /** Every member started, the ones that left included. */
  list: Member[];
}

/**
 * After a join was cut short: the joiner (restarted) settles fully in or fully out within the
 * bound; out, it joins again with a new token.
 */
async function afterJoin(ctx: Cluster, x: Member, via: Member): Promise<string> {
  const where = await settled(x, ctx.members, names(ctx.members), BOUND_MS);
  if (where === "in") {
    ctx.members.push(x);
    return "restarted as a member; every member lists it ONLINE";
  }
  // The token of the join cut short is still valid (never used to the end): as the daemon asks
  // an operator who wants a new one, revoke it first.
  const revoked = await api(via, "DELETE", `/core/control/tokens/${x.name}`);
  await joinVia(via, x);
  ctx.members.push(x);
  await allOnline(ctx.members, names(ctx.members), BOUND_MS);
  return `restarted clean; no member lists it; ${
    revoked.status === 200 ? "its token revoked, " : ""
  }joined again with a new token`;
}

const joinChain: Chain<Cluster> = {
  name: "join",
  async setup() {
    const list = await formWith(["j1", "j2"]);
    return { members: [...list], list: [...list] };
  },
  all: (ctx) => ctx.list,
  recover: (ctx) => dropStrays(ctx, ctx.list.filter((m) => !ctx.members.includes(m))),
  points: [
    {
      name: "join, admitting side: killed on its 'Admitted a new member' line",
      async run(ctx) {
        const [j1, j2] = ctx.members;
        await stop(j1);
        await startArmed(j1, ADMITTED);
        await allOnline(ctx.members, names(ctx.members), BOUND_MS);
        const before = identity(j1);
        const x = await newMember("x3");
        ctx.list.push(x);
        await startWith(x);
        const cli = join_(x, await issueToken(j1, x.name));
        await crashed(j1);
        const r = await cli;
        await intact(j1);
        await startWith(j1);
        assert.equal(identity(j1), before, "the admitting member is the same member");
        const outcome = await afterJoin(ctx, x, j2);
        return `admitting member restarted as itself (the join ${
          r.code === 0 ? "returned 0" : "failed"
        }); joiner ${outcome}`;
      },
    },
    {
      name: "join, joining side: killed on its HTTPS Listening line",
      async run(ctx) {
        const [j1] = ctx.members;
        const x = await newMember("x1");
        ctx.list.push(x);
        await startArmed(x, LISTENING);
        const cli = join_(x, await issueToken(j1, x.name));
        await crashed(x);
        await cli;
        await intact(x);
        await startWith(x);
        return await afterJoin(ctx, x, j1);
      },
    },
    {
      name: "join, joining side: killed once admitted (on the admitting member's line)",
      async run(ctx) {
        const [j1] = ctx.members;
        const x = await newMember("x2");
        ctx.list.push(x);
        await startWith(x);
        const token = await issueToken(j1, x.name);
        const admitted = nextLine(j1, ADMITTED);
        const cli = join_(x, token);
        await admitted;
        await killNow(x);
        await cli;
        await intact(x);
        await startWith(x);
        return await afterJoin(ctx, x, j1);
      },
    },
  ],
};

/**
 * Recovery after a failed point: every member of the cluster running, the `strays` (left half
 * in) stopped and removed with `--force`, and every member listing the others ONLINE.
 */
async function dropStrays(ctx: Cluster, strays: Member[]): Promise<void> {
  for (const x of strays) await killNow(x);
  for (const m of ctx.members) if (!alive(m)) await startWith(m);
  // Whether the cluster still lists a stray is what the failed point reported; here it goes.
  for (const x of strays) await run(ctx.members[0], ["cluster", "remove", x.name, "--force"]);
  await allOnline(ctx.members, names(ctx.members), BOUND_MS).catch((err) => {
    throw new Error(`the cluster did not recover: ${err.message}`);
  });
}

const alive = (m: Member) =>
  !!m.daemon && m.daemon.child.exitCode === null && m.daemon.child.signalCode === null;

// --- remove ------------------------------------------------------------------------------------

/**
 * After a removal was cut short: the departing member (restarted) settles fully in or fully out
 * within the bound, and out when the removal told the operator it succeeded.
 */
async function afterRemove(ctx: Cluster, gone: Member, succeeded: boolean): Promise<string> {
  const others = ctx.members.filter((m) => m !== gone);
  const where = await settled(gone, others, names(others), BOUND_MS);
  if (succeeded) {
    assert.is(where, "out", `the removal returned 0, but ${gone.name} is still a member`);
  }
  if (where === "out") ctx.members = others;
  return where === "out"
    ? `removal ${succeeded ? "returned 0" : "failed"}; restarted clean, no member lists it`
    : "removal failed; restarted as a member, every member lists it ONLINE";
}

const removeChain: Chain<Cluster> = {
  name: "remove",
  async setup() {
    const list = await formWith(["r1", "r2", "r3", "r4"]);
    return { members: [...list], list: [...list] };
  },
  all: (ctx) => ctx.list,
  // The member the failed point removed is the last one: take it out by force.
  recover: (ctx) => dropStrays(ctx, ctx.members.splice(-1)),
  points: [
    {
      name: "remove, departing side: killed 20 ms into the removal",
      async run(ctx) {
        const [r1] = ctx.members;
        const gone = ctx.members[ctx.members.length - 1];
        const request = api(r1, "DELETE", `/core/1.0/cluster/${gone.name}`).catch(() => undefined);
        await sleep(20);
        await killNow(gone);
        const res = await request;
        await intact(gone);
        await startWith(gone);
        return await afterRemove(ctx, gone, res?.status === 200);
      },
    },
    {
      name: "remove, removing side: killed as the departing member turns PENDING",
      async run(ctx) {
        const [, r2] = ctx.members;
        const gone = ctx.members[ctx.members.length - 1];
        assert.ok(gone !== r2, "a member to remove besides r1 and r2");
        const before = identity(r2);
        const pending = nextLine(gone, PENDING);
        const request = api(r2, "DELETE", `/core/1.0/cluster/${gone.name}`).catch(() => undefined);
        await pending;
        await killNow(r2);
        await request;
        await intact(r2);
        await startWith(r2);
        assert.equal(identity(r2), before, "the removing member is the same member");
        // Whether the removal went through is up to what r2 wrote before it died: either way,
        // both sides must agree.
        return `removing member restarted as itself; departing ${await afterRemove(
          ctx,
          gone,
          false,
        )}`;
      },
    },
    {
      name: 'remove, departing side: killed on its "to":"PENDING" line',
      async run(ctx) {
        const [r1] = ctx.members;
        const gone = ctx.members[ctx.members.length - 1];
        await stop(gone);
        await startArmed(gone, PENDING);
        await allOnline(ctx.members, names(ctx.members), BOUND_MS);
        const cli = run(r1, ["cluster", "remove", gone.name]);
        await crashed(gone);
        const r = await cli;
        await intact(gone);
        await startWith(gone);
        return await afterRemove(ctx, gone, r.code === 0);
      },
    },
  ],
};

// --- the store flushing the view, and upgrades --------------------------------------------------

const upgradeChain: Chain<Cluster> = {
  name: "upgrade and view flush",
  async setup() {
    const list = await formWith(["u1", "u2"]);
    return { members: [...list], list: [...list] };
  },
  all: (ctx) => ctx.list,
  points: [
    {
      name: "view flush: killed on its 'App version changed' line, before the view is written",
      async run(ctx) {
        const [u1] = ctx.members;
        await stop(u1);
        await startArmed(u1, { msg: "App version changed" });
        await allOnline(ctx.members, names(ctx.members), BOUND_MS);
        const request = api(u1, "PUT", "/core/control/app-version", { app_version: "2.0.0" })
          .catch(() => undefined);
        await crashed(u1);
        await request;
        await intact(u1);
        await startWith(u1);
        await allOnline(ctx.members, names(ctx.members), BOUND_MS);
        return "restarted as itself with its start-up app version; every member lists it ONLINE";
      },
    },
    {
      name: "view flush: killed 15 ms into an app version change",
      async run(ctx) {
        const [u1] = ctx.members;
        const request = api(u1, "PUT", "/core/control/app-version", { app_version: "3.0.0" })
          .catch(() => undefined);
        await sleep(15);
        await killNow(u1);
        await request;
        await intact(u1);
        await startWith(u1);
        await allOnline(ctx.members, names(ctx.members), BOUND_MS);
        return "restarted as itself; every member lists it ONLINE";
      },
    },
    {
      name: "upgrade: killed while waiting for the others",
      async run(ctx) {
        const [u1, u2] = ctx.members;
        await stop(u1);
        await startArmed(u1, { msg: "Waiting for other cluster members to upgrade" }, {
          extensions: NEW,
        }).catch(() => {}); // it may die before it logs that it started
        await crashed(u1);
        await intact(u1);
        await startWith(u1, { extensions: NEW });
        assert.not.ok(await isReady(u1), "restarted upgraded, it waits again");
        assert.ok(logged(u1, "Waiting for other cluster members to upgrade").length > 0);
        await stop(u2);
        await startWith(u2, { extensions: NEW });
        await eventuallyReady([u1, u2]);
        await allOnline(ctx.members, names(ctx.members), BOUND_MS);
        return "restarted waiting again; opened once the other member upgraded";
      },
    },
    {
      name: "upgrade: killed as it opens",
      async run(ctx) {
        const [u1, u2] = ctx.members;
        await stop(u1);
        await startArmed(u1, { msg: "Every member upgraded: opening" }, { extensions: NEWER });
        assert.not.ok(await isReady(u1), "it waits for the other member");
        await stop(u2);
        await startWith(u2, { extensions: NEWER });
        await crashed(u1);
        await intact(u1);
        await startWith(u1, { extensions: NEWER });
        await eventuallyReady([u1, u2]);
        await allOnline(ctx.members, names(ctx.members), BOUND_MS);
        return "restarted and opened at once; every member lists both ONLINE";
      },
    },
  ],
};

// --- running the chains -----------------------------------------------------------------------

/**
 * Every chain; `COHORT_CRASH_CHAINS` (a regular expression over chain names) runs some only,
 * and `COHORT_CRASH_LOGS` names a folder where a failed point leaves its chain's daemon logs.
 */
const CHAINS = ([bootstrapChain, joinChain, removeChain, upgradeChain] as Chain<unknown>[])
  .filter((c) => new RegExp(process.env.COHORT_CRASH_CHAINS ?? "").test(c.name));
const LOGS = process.env.COHORT_CRASH_LOGS;
/** How many chains run at once. */
const PARALLEL = 2;

/** A result to come, settled from outside. */
interface Deferred {
  promise: Promise<string>;
  resolve(outcome: string): void;
  reject(err: unknown): void;
}

function deferred(): Deferred {
  const d = {} as Deferred;
  d.promise = new Promise<string>((resolve, reject) => Object.assign(d, { resolve, reject }));
  d.promise.catch(() => {}); // awaited by its test
  return d;
}

/** Stores that failed `PRAGMA integrity_check` once their chain ended. */
const problems: string[] = [];

/** Runs one chain; settles each of its points' results, in order. */
async function runChain(chain: Chain<unknown>, results: Map<string, Deferred>): Promise<void> {
  if (!chain.points.some((p) => results.has(p.name))) return;
  let ctx: unknown;
  let stopped: string | undefined;
  try {
    ctx = await chain.setup();
  } catch (err) {
    stopped = `its cluster could not be formed: ${(err as Error).message}`;
  }
  for (const point of chain.points) {
    const result = results.get(point.name);
    if (!result) continue; // awaiting a fix: not run
    if (stopped) {
      result.reject(new Error(`not run: the ${chain.name} chain stopped (${stopped})`));
      continue;
    }
    try {
      result.resolve(await point.run(ctx));
    } catch (err) {
      result.reject(err);
      if (LOGS && ctx !== undefined) {
        mkdirSync(LOGS, { recursive: true });
        for (const m of chain.all(ctx)) {
          const file = join(LOGS, `${point.name.replace(/\W+/g, "_")}.${m.name}.log`);
          writeFileSync(file, m.daemon?.logs() ?? "");
        }
      }
      try {
        if (!chain.recover) throw new Error("no way to recover");
        await chain.recover(ctx);
      } catch (why) {
        stopped = `"${point.name}" failed, and then ${(why as Error).message}`;
      }
    }
  }
  if (ctx === undefined) return;
  const all = chain.all(ctx);
  await Promise.all(all.map((m) => stop(m).catch(() => {})));
  for (const m of all) {
    const result = await integrity(m).catch((err) => String(err));
    if (result !== "ok") problems.push(`${m.name} (${chain.name}): ${result}`);
  }
  await stopMembers(all);
}

const test = suite("kill -9 crash consistency");
/**
 * Points that fail on main today, each with the defect behind it: they are not run (uvu counts
 * them as skipped, and this file prints them) until the fix lands and its entry is removed.
 * `COHORT_CRASH_ALL=1` runs them anyway.
 */
const AWAITING_FIX: Record<string, string> = {};
const runAll = process.env.COHORT_CRASH_ALL === "1";
const results = new Map<string, Deferred>();
for (const chain of CHAINS) {
  for (const point of chain.points) {
    if (!runAll && AWAITING_FIX[point.name]) {
      test.skip(point.name);
      console.log(`  not run, awaiting a fix: ${point.name}\n    (${AWAITING_FIX[point.name]})`);
    } else results.set(point.name, deferred());
  }
}
let running: Promise<unknown>;

test.before(() => {
  const queue = [...CHAINS];
  running = Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await runChain(c, results);
    }),
  );
});

for (const [name, result] of results) {
  test(name, async () => {
    const outcome = await result.promise;
    console.log(`  ${name}\n    -> ${outcome}`);
  });
}

test("every member's store passes PRAGMA integrity_check once its chain ended", async () => {
  await running;
  assert.equal(problems, []);
});

test.run();
