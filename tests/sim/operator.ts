/**
 * The adversarial operator of a whole-member simulation, and {@link runSeed}: form a cluster,
 * play a seeded random script of steps (restart with the same, a newer, an older, a diverged or
 * a rolled-back build; kill -9; graceful stop; join with a token; remove and force remove;
 * partition and heal; loss; wait), each followed by a random stretch of simulated time, then
 * make the world calm (heal, no loss, every member of the cluster started with one build) and
 * check that every member opens and every view converges. The invariants (`invariants.ts`) are
 * checked throughout.
 *
 * A step's choices depend only on the seed and on what the world did before, which the seed
 * decides too: a seed replays the same script and the same run. The result carries the script
 * (the steps, with their simulated times) to print for a failing seed.
 */
import { createClient } from "@libsql/client";
import { join } from "node:path";
import process from "node:process";
import { createRandom } from "../../gossip/random.ts";
import type { Random } from "../../lib/cluster/random.ts";
import { type Build, build, BUILDS } from "./builds.ts";
import { CONVERGE_BOUND_MS, LIVE_BOUND_MS, Oracle } from "./invariants.ts";
import { describe, type SimMember, World } from "./world.ts";

/** Options of one run. */
export interface SeedOptions {
  /** Members (3 to 5 make a cheap run). @default 3 */
  members?: number;
  /** Random steps after the cluster formed. @default 8 */
  steps?: number;
  /** Keep every member's log lines. @default false */
  logs?: boolean;
}

/**
 * Open bugs the simulation meets, each known by the reason members give for refusing a roster
 * record (`gossip/record_intake.ts` logs it): a seed whose violations come with that refusal is counted
 * as meeting the bug (and reported as such), not as a new failure.
 */
export const KNOWN_BUGS: readonly { name: string; reason: RegExp }[] = Object.freeze([]);

/** What one seed did. */
export interface SeedResult {
  seed: number;
  /** The known bugs ({@link KNOWN_BUGS}) its violations came with; empty when none. */
  known: string[];
  /**
   * The known limitations (`LIMITS` in `invariants.ts`) it met, which are not violations;
   * empty when none.
   */
  limits: string[];
  /** What showed each of {@link limits}, in the same order. */
  limitsSeen: string[];
  /** The operator's script: `t=…ms step`, in order. */
  script: string[];
  violations: string[];
  /** Simulated time the run took, ms. */
  simulatedMs: number;
  logs: string[];
}

const T0 = Date.UTC(2026, 0, 1);

/** One operator action under way on a member. */
interface Action {
  text: string;
  /** Whether it changes who is a member (a kill during it leaves the member in doubt). */
  membership: boolean;
}

class Operator {
  readonly world: World;
  readonly oracle: Oracle;
  readonly rnd: Random;
  readonly script: string[] = [];
  readonly #actions = new Map<string, Action>();

  constructor(world: World, oracle: Oracle, seed: number) {
    this.world = world;
    this.oracle = oracle;
    this.rnd = createRandom(seed ^ 0x5eed5eed);
  }

  log(text: string): void {
    this.script.push(`t=${this.world.clock.now() - T0}ms ${text}`);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd.next() * xs.length)];
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd.next() * (hi - lo + 1));
  }

  idle(m: SimMember): boolean {
    return !this.#actions.has(m.name);
  }

  /** Runs `work` for member `m` in the background, counted as an action under way. */
  act(
    m: SimMember,
    text: string,
    membership: boolean,
    work: (live: () => boolean) => Promise<unknown>,
  ): Promise<void> {
    const action = { text, membership };
    const live = () => this.#actions.get(m.name) === action;
    this.#actions.set(m.name, action);
    this.oracle.busy++;
    this.oracle.noteWorld();
    const done = () => {
      if (this.#actions.get(m.name) !== action) return;
      this.#actions.delete(m.name);
      this.oracle.busy--;
      this.oracle.noteWorld();
    };
    return work(live).then(done, (err) => {
      if (this.#actions.get(m.name) === action) {
        this.log(`  ${m.name}: ${text} failed: ${describe(err)}`);
      }
      done();
    });
  }

  /** A kill abandons the member's action (it never finishes). */
  abandon(m: SimMember): void {
    const a = this.#actions.get(m.name);
    if (!a) return;
    this.#actions.delete(m.name);
    this.oracle.busy--;
    if (a.membership) this.oracle.fate(m.name).doubt = true;
    this.oracle.noteWorld();
  }

  get underWay(): number {
    return this.#actions.size;
  }

  /** Runs simulated time with the invariants checked. */
  run(ms: number): Promise<void> {
    return this.world.run(ms, () => this.oracle.tick(), 20);
  }

  /** Runs until `p` settles (or `maxMs`); returns whether it did. */
  until(p: Promise<unknown>, maxMs: number): Promise<boolean> {
    return this.world.until(p, maxMs, () => this.oracle.tick());
  }

  /** The build a (re)start of `m` takes: same, newer, older, diverged or rolled back. */
  chooseBuild(m: SimMember): { build: Build; how: string } {
    const f = this.oracle.fate(m.name);
    const base = f.lastRan ?? m.inc?.build ?? build("v0");
    const level = base.level ?? 0;
    const how = this.pick(["same", "same", "newer", "newer", "older", "diverged", "rollback"]);
    switch (how) {
      case "newer":
        return { build: BUILDS[Math.min(level + 1, 2)], how };
      case "older":
        return { build: BUILDS[Math.max(level - 1, 0)], how };
      case "diverged":
        return { build: build("d"), how };
      case "rollback": {
        const ran = [...f.ran].filter((l) => l !== base.label);
        return {
          build: ran.length ? build(ran[ran.length - 1]) : BUILDS[Math.max(level - 1, 0)],
          how,
        };
      }
      default:
        return { build: base, how };
    }
  }

  /** Starts `m` with `b` and records what its start found; rejects as the start does. */
  async start(m: SimMember, b: Build): Promise<void> {
    const before = await appliedMigrations(this.world, m);
    const seeds = await storedPeers(this.world, m);
    const { started } = this.world.start(m, b);
    this.oracle.noteStarting(m, seeds);
    try {
      await started;
      this.oracle.noteStarted(m);
      this.log(`  ${m.name} started: ${m.phase}`);
    } catch (err) {
      // 3: a refused start applied none of its app migrations.
      const after = await appliedMigrations(this.world, m);
      if (after > before) {
        this.oracle.violate(
          `${m.name}'s refused start applied app migrations (${before} -> ${after})`,
        );
      }
      throw err;
    }
  }

  /** Forms the cluster: every member started with v0, m1 bootstraps, the others join. */
  async form(): Promise<boolean> {
    const v0 = build("v0");
    const [first, ...rest] = this.world.members;
    this.log(
      `start all with v0; bootstrap ${first.name}; join ${rest.map((m) => m.name).join(",")}`,
    );
    const starts = this.world.members.map((m) => this.world.start(m, v0).started);
    if (!await this.until(Promise.all(starts), 10_000)) return this.#stuck("the first starts");
    const boot = first.daemon!.initialize({
      bootstrap: true,
      name: first.name,
      address: first.address,
    });
    if (!await this.until(boot, 30_000)) return this.#stuck("the bootstrap");
    await boot;
    this.oracle.fate(first.name).inCluster = true;
    for (const m of rest) {
      // A token is answered once its issuer stored it: simulated time runs meanwhile.
      const issued = first.daemon!.createToken(m.name, 0);
      if (!await this.until(issued, 10_000)) return this.#stuck(`the token of ${m.name}`);
      const token = await issued;
      const join = m.daemon!.initialize({
        bootstrap: false,
        name: m.name,
        address: m.address,
        join_token: token,
      });
      if (!await this.until(join, 30_000)) return this.#stuck(`the join of ${m.name}`);
      await join;
      this.oracle.fate(m.name).inCluster = true;
    }
    return true;
  }

  #stuck(what: string): false {
    this.log(
      `  ${what} never finished: ${
        this.world.members.map((m) => `${m.name}=${m.phase}`).join(" ")
      }`,
    );
    return false;
  }

  /** One random step. */
  step(): void {
    const w = this.world;
    const running = w.members.filter((m) => m.inc);
    const idleRunning = running.filter((m) => this.idle(m));
    const down = w.members.filter((m) => !m.inc && this.idle(m));
    const online = idleRunning.filter((m) => m.phase === "online");
    const kinds: string[] = [];
    if (idleRunning.length) kinds.push("restart", "restart", "restart", "stop");
    if (running.length) kinds.push("kill", "kill");
    if (down.length) kinds.push("start", "start", "start");
    if (idleRunning.some((m) => m.phase === "uninitialized") && online.length) {
      kinds.push("join", "join");
    }
    if (online.length) kinds.push("remove", "remove");
    kinds.push(w.whole ? "partition" : "heal", w.whole ? "loss" : "heal", "wait");
    const kind = this.pick(kinds);
    switch (kind) {
      case "restart": {
        const m = this.pick(idleRunning);
        const { build: b, how } = this.chooseBuild(m);
        this.log(`restart ${m.name} with ${b.label} (${how})`);
        void this.act(m, "restart", false, async (live) => {
          await w.stop(m);
          if (live()) await this.start(m, b);
        });
        break;
      }
      case "start": {
        const m = this.pick(down);
        const { build: b, how } = this.chooseBuild(m);
        this.log(`start ${m.name} with ${b.label} (${how})`);
        void this.act(m, "start", false, () => this.start(m, b));
        break;
      }
      case "stop": {
        const m = this.pick(idleRunning);
        this.log(`stop ${m.name}`);
        void this.act(m, "stop", false, () => w.stop(m));
        break;
      }
      case "kill": {
        const m = this.pick(running);
        this.log(
          `kill -9 ${m.name} (${m.phase}${
            this.idle(m) ? "" : `, during ${this.#actions.get(m.name)!.text}`
          })`,
        );
        this.abandon(m);
        w.kill(m);
        break;
      }
      case "join": {
        const m = this.pick(idleRunning.filter((x) => x.phase === "uninitialized"));
        const by = this.pick(online);
        this.log(`join ${m.name} with a token from ${by.name}`);
        void this.act(m, "join", true, async () => {
          const token = await by.daemon!.createToken(m.name, 0);
          if (!m.daemon) throw new Error(`${m.name} is down`);
          await m.daemon.initialize({
            bootstrap: false,
            name: m.name,
            address: m.address,
            join_token: token,
          });
          const f = this.oracle.fate(m.name);
          f.inCluster = true;
          f.doubt = false;
          f.removedAt = undefined;
          f.exposure = 0;
          this.log(`  ${m.name} joined`);
        });
        break;
      }
      case "remove": {
        const by = this.pick(online);
        const targets = w.members.filter((x) =>
          x !== by && (this.oracle.fate(x.name).inCluster || this.oracle.fate(x.name).doubt)
        );
        if (!targets.length) return this.wait();
        const x = this.pick(targets);
        const force = this.rnd.next() < 0.5;
        this.log(`cluster remove ${x.name}${force ? " --force" : ""} on ${by.name}`);
        void this.act(by, `remove ${x.name}`, false, async () => {
          try {
            await by.daemon!.removeMember(x.name, force);
          } catch (err) {
            // A remove that failed may have happened in part: the target is in doubt.
            this.oracle.fate(x.name).doubt = true;
            throw err;
          }
          const f = this.oracle.fate(x.name);
          if (f.inCluster || f.doubt) {
            f.inCluster = false;
            f.doubt = false;
            f.removedAt = this.world.clock.now();
            f.exposure = 0;
          }
          this.oracle.noteRemoved(x.name, by.name);
          this.log(`  ${x.name} removed`);
        });
        break;
      }
      case "partition": {
        const names = w.members.map((m) => m.name);
        const cut = this.int(1, names.length - 1);
        const shuffled = sortLikeNode20(names, () => this.rnd.next() - 0.5);
        const groups = [shuffled.slice(0, cut).sort(), shuffled.slice(cut).sort()];
        this.log(`partition ${groups.map((g) => g.join(",")).join(" | ")}`);
        w.partition(groups);
        this.oracle.noteWorld();
        break;
      }
      case "heal":
        this.log("heal");
        w.heal();
        this.oracle.noteWorld();
        break;
      case "loss": {
        const loss = this.pick([0, 0.05, 0.2]);
        this.log(`loss ${loss}`);
        w.setLoss(loss);
        this.oracle.noteWorld();
        break;
      }
      default:
        return this.wait();
    }
  }

  wait(): void {
    this.log("wait");
  }

  /**
   * Calm: heal, no loss, let actions finish, settle members in doubt by restarting them, start
   * every member of the cluster with the newest build they ran, then wait until everyone opens
   * and the views agree.
   */
  async calm(): Promise<void> {
    const w = this.world;
    this.log("calm: heal, loss 0");
    w.heal();
    w.setLoss(0);
    this.oracle.noteWorld();
    const end = w.clock.now() + 60_000;
    while (this.underWay && w.clock.now() < end) await this.run(100);
    if (this.underWay) {
      this.oracle.violate(
        `operator actions never finished: ${
          [...this.#actions.entries()].map(([n, a]) => `${n}: ${a.text}`).join(", ")
        }`,
      );
      return;
    }
    for (const m of w.members) {
      if (!this.oracle.fate(m.name).doubt) continue;
      const b = m.inc?.build ?? this.oracle.fate(m.name).lastRan ?? build("v0");
      this.log(`restart ${m.name} (in doubt) with ${b.label}`);
      await this.#settle(m, b);
    }
    const target = newest(
      w.members.map((m) => this.oracle.fate(m.name)).filter((f) => f.inCluster).map((f) =>
        f.lastRan
      ),
    );
    if (!target) {
      this.log("calm: the members ran builds on no one line of history; no liveness check");
      return;
    }
    for (const m of w.members) {
      const f = this.oracle.fate(m.name);
      if (!f.inCluster || (m.inc && m.inc.build.label === target.label)) continue;
      this.log(`${m.inc ? "restart" : "start"} ${m.name} with ${target.label} (calm)`);
      await this.#settle(m, target);
    }
    // A start refused while nobody it knows ran was decided on its store's memory of the
    // others, which may be stale (invariant 7 checks that it was): the operator reads the
    // refusal and starts the member again once the others run.
    for (const m of w.members) {
      if (!this.oracle.fate(m.name).inCluster || m.inc) continue;
      this.log(`start ${m.name} with ${target.label} again (calm: the others run now)`);
      await this.#settle(m, target);
    }
    this.oracle.noteWorld();
    const quiet = w.clock.now();
    const bound = Math.max(LIVE_BOUND_MS, CONVERGE_BOUND_MS) + 1000;
    while (w.clock.now() - quiet < bound) {
      if (this.oracle.allOpen() && !this.oracle.disagreement()) break;
      await this.run(100);
    }
    if (!this.oracle.violations.length) {
      if (!this.oracle.allOpen()) {
        this.oracle.violate(
          `calm for ${bound}ms, yet ${
            w.members.filter((m) => this.oracle.fate(m.name).inCluster && m.phase !== "online").map(
              (m) => `${m.name} is ${m.phase}`,
            ).join(", ")
          }`,
        );
      }
      const d = this.oracle.disagreement();
      if (d) this.oracle.violate(`calm for ${bound}ms, views differ: ${d}`);
    }
    this.log(
      `calm: ${
        w.members.map((m) => `${m.name}=${m.phase}${m.inc ? `/${m.inc.build.label}` : ""}`).join(
          " ",
        )
      }`,
    );
  }

  /** (Re)starts `m` with `b` and waits for its start, as an action. */
  async #settle(m: SimMember, b: Build): Promise<void> {
    const p = this.act(m, "calm start", false, async (live) => {
      if (m.inc) await this.world.stop(m);
      if (live()) await this.start(m, b);
    });
    if (!await this.until(p, 60_000)) this.oracle.violate(`${m.name}'s start never finished`);
  }
}

/**
 * `[...items].sort(compare)` as Node 20's V8 does it (TimSort: the first run, ascending or
 * strictly descending, then binary insertion, which is all of it below 64 items), with
 * the same calls of `compare` in the same order. The partition step shuffles with a random
 * comparator, and Deno's newer V8 calls it differently: this keeps each seed's script the same
 * under both runtimes, and the same as when the seeds recorded in the tests were found.
 */
export function sortLikeNode20<T>(items: readonly T[], compare: (a: T, b: T) => number): T[] {
  const a = [...items];
  const n = a.length;
  if (n < 2) return a;
  let run = 2;
  const descending = compare(a[1], a[0]) < 0;
  for (let i = 2; i < n; i++) {
    const order = compare(a[i], a[i - 1]);
    if (descending ? order >= 0 : order < 0) break;
    run++;
  }
  if (descending) {
    for (let i = 0, j = run - 1; i < j; i++, j--) [a[i], a[j]] = [a[j], a[i]];
  }
  for (let start = run; start < n; start++) {
    const pivot = a[start];
    let left = 0;
    let right = start;
    while (left < right) {
      const mid = left + ((right - left) >> 1);
      if (compare(pivot, a[mid]) < 0) right = mid;
      else left = mid + 1;
    }
    for (let p = start; p > left; p--) a[p] = a[p - 1];
    a[left] = pivot;
  }
  return a;
}

/** The build every other one is on the way to (their lists and migrations are its prefix). */
function newest(builds: (Build | undefined)[]): Build | undefined {
  const known = builds.filter((b): b is Build => b !== undefined);
  return known.find((top) =>
    known.every((b) => b.app <= top.app && b.extensions.every((e, i) => top.extensions[i] === e))
  );
}

/** The number of app migrations `m`'s database has applied (0 when none or no database). */
async function appliedMigrations(world: World, m: SimMember): Promise<number> {
  const client = createClient({ url: `file:${join(m.dir, "database", "cohort.db")}` });
  try {
    const rs = await client.execute("SELECT count(*) FROM __cohort_app_migrations");
    return Number(rs.rows[0][0]);
  } catch {
    return 0;
  } finally {
    client.close();
    void world;
  }
}

/**
 * The addresses of the other members `m`'s store lists (the members a restart asks whether it
 * was removed, and push-pulls with), or none when it has no database yet.
 */
async function storedPeers(world: World, m: SimMember): Promise<string[]> {
  const client = createClient({ url: `file:${join(m.dir, "database", "cohort.db")}` });
  try {
    const rs = await client.execute({
      sql: "SELECT address FROM core_cluster_members WHERE name != ?",
      args: [m.name],
    });
    return rs.rows.map((r) => String(r[0]));
  } catch {
    return [];
  } finally {
    client.close();
    void world;
  }
}

/** Plays one seed; see the module docs. */
export async function runSeed(seed: number, options: SeedOptions = {}): Promise<SeedResult> {
  const world = new World({ seed, members: options.members ?? 3, logs: options.logs });
  const oracle = new Oracle(world);
  const op = new Operator(world, oracle, seed);
  const unhandled = (err: unknown) => oracle.violate(`unhandled rejection: ${describe(err)}`);
  process.on("unhandledRejection", unhandled);
  try {
    if (!await op.form()) {
      oracle.violate("the cluster did not form");
    } else {
      const steps = options.steps ?? 8;
      for (let i = 0; i < steps && !oracle.violations.length; i++) {
        op.step();
        await op.run(op.int(200, 4000));
      }
      if (!oracle.violations.length) await op.calm();
    }
  } catch (err) {
    oracle.violate(
      `the run failed: ${describe(err)}${err instanceof Error ? `\n${err.stack}` : ""}`,
    );
  } finally {
    process.off("unhandledRejection", unhandled);
    await world.close();
  }
  const known = oracle.violations.length
    ? KNOWN_BUGS.filter((b) => world.refusals.some((r) => b.reason.test(r.reason))).map((b) =>
      b.name
    )
    : [];

  return {
    seed,
    known,
    limits: [...oracle.known.keys()],
    limitsSeen: [...oracle.known.values()],
    script: op.script,
    violations: oracle.violations,
    simulatedMs: world.clock.now() - T0,
    logs: world.logs,
  };
}

/**
 * The command that replays `seed` under the runtime of this process (a run replays exactly
 * under either; see `determinism.ts`).
 */
export function replayCommand(seed: number, options: SeedOptions = {}): string {
  const args = `scripts/simulate.ts --seed ${seed} --members ${options.members ?? 3} --steps ${
    options.steps ?? 8
  }`;
  return "Deno" in globalThis ? `node_modules/.bin/deno run -A ${args}` : `npx tsx ${args}`;
}

/** Whether a seed failed: a violation that no known bug explains. */
export function failed(r: SeedResult): boolean {
  return r.violations.length > 0 && r.known.length === 0;
}

/** A seed's result as printed for a failure: the seed, the violations, the script. */
export function report(r: SeedResult, options: SeedOptions = {}): string {
  return [
    `seed ${r.seed} ${failed(r) ? "failed" : "met a known open bug"} (replay: ${
      replayCommand(r.seed, options)
    }, --logs for the logs):`,
    ...r.known.map((k) => `  known bug: ${k}`),
    ...r.limits.map((k, i) => `  known limitation: ${k}: ${r.limitsSeen[i]}`),
    ...r.violations.map((v) => `  violation: ${v}`),
    "  script:",
    ...r.script.map((s) => `    ${s}`),
  ].join("\n");
}
