/**
 * One member's wall clock steps while it runs, as NTP stepping a drifted clock, a VM resumed
 * after hours or `date -s` do it. Real daemons; the stepped member runs with `clock_step.c`
 * preloaded (compiled here with gcc, installed with apt-get when missing), which adds the offset
 * written in a file to CLOCK_REALTIME, gettimeofday and time() (the monotonic clock is left
 * alone, as a real step leaves it). The clock steps +10 min, −10 min (20 min back at once),
 * +2 h and back to the true time; after each step the cluster must stay as it was: every member
 * sees every other ONLINE, nobody suspects or declares anyone dead, the stepped member's gossip
 * connections are neither cut nor dialled anew, and its join tokens keep wall-clock dates (a
 * token it issues expires by its stepped clock; one it issued 10 min back admits a member).
 */
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  api,
  bootstrapAndJoin,
  daemonArgs,
  daemonsLastLines,
  type Member,
  members,
  newMember,
  run,
  stopMembers,
} from "../helpers/cluster.ts";
import { value } from "../helpers/metrics.ts";
import { removeDir, startDaemonProcess, tempDir, waitForSocket } from "../helpers/process.ts";
import { ensureCommand, load, underCi } from "./system.ts";
import { faultTest } from "./suite.ts";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** The steps of the stepped member's wall clock, as offsets from the true time (ms). */
const OFFSETS = [10 * 60_000, -10 * 60_000, 2 * 3_600_000, 0];
/** How long the cluster is watched after each step, ms (several probe rounds of `local`). */
const WATCH_MS = 3_000;
/** Log lines that must not appear anywhere: a suspicion, a verdict, a connection given up. */
const TROUBLE = /suspect|dead|unresponsive|Removing an unreachable/i;

interface Ctx {
  members: Member[];
  dir?: string;
  fd?: number;
}

const test = suite<Ctx>("a member's wall clock steps");

test.before.each((ctx) => {
  ctx.members = [];
});

test.after.each(async (ctx) => {
  await stopMembers(ctx.members);
  if (ctx.fd !== undefined) closeSync(ctx.fd);
  if (ctx.dir) removeDir(ctx.dir);
  ctx.fd = ctx.dir = undefined;
});

/** Compiles the clock shim into `dir`: its path, or why it cannot be. */
function compileShim(dir: string): { path?: string; why?: string } {
  const why = ensureCommand("gcc", "gcc");
  if (why) return { why };
  const source = fileURLToPath(new URL("./clock_step.c", import.meta.url));
  const path = join(dir, "clock_step.so");
  const r = spawnSync("gcc", ["-shared", "-fPIC", "-O2", "-o", path, source, "-ldl"], {
    encoding: "utf8",
  });
  return r.status === 0 ? { path } : { why: `gcc failed: ${r.stderr || r.error}` };
}

/** Starts `m`'s daemon with debug logs (suspicions are logged at debug) and `env`. */
async function start(m: Member, env: Record<string, string> = {}): Promise<void> {
  const deno = "Deno" in globalThis;
  m.daemon = startDaemonProcess(
    daemonArgs(m),
    deno
      ? { command: join(root, "node_modules/.bin/deno"), args: ["run", "-A", join(root, "mod.ts")] }
      : undefined,
    { COHORT_LOG_LEVEL: "debug", ...env },
  );
  await waitForSocket(m.dir, m.daemon);
}

/** The log lines of `m` about trouble (see {@link TROUBLE}). */
function trouble(m: Member): string[] {
  return (m.daemon?.logs() ?? "").split("\n").filter((l) => {
    try {
      return TROUBLE.test(JSON.parse(l).msg);
    } catch {
      return false;
    }
  });
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
  ctx: Ctx,
): Promise<{ list: Member[]; step: (ms: number) => void } | undefined> {
  ctx.dir = tempDir("cohort-clock-");
  const shim = compileShim(ctx.dir);
  if (!shim.path) {
    if (underCi) assert.unreachable(`cannot build the clock shim: ${shim.why}`);
    console.log(`SKIPPED (cannot build the clock shim: ${shim.why})`);
    return undefined;
  }
  const offsetFile = join(ctx.dir, "offset");
  ctx.fd = openSync(offsetFile, "w+");
  const fd = ctx.fd;
  // Rewritten in place at a fixed width: the shim maps the file and never reads past its end.
  // (A Buffer: Deno's `writeSync` of a string ignores the position and appends.)
  const step = (ms: number) => writeSync(fd, Buffer.from(String(ms).padEnd(32, " ")), 0, 32, 0);
  step(0);
  const list: Member[] = [];
  for (const name of ["a", "b", "c", "s"]) list.push(await newMember(name));
  ctx.members.push(...list);
  await Promise.all(list.slice(0, 3).map((m) => start(m)));
  await start(list[3], { LD_PRELOAD: shim.path, CLOCK_STEP_FILE: offsetFile });
  await bootstrapAndJoin(list);
  return { list, step };
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
  const troubleAfter = list.map((m) => trouble(m).slice(troubleBefore[list.indexOf(m)]));
  console.log(
    `steps ${OFFSETS.join(", ")} ms on ${s.name}: ${dialsAfter - dialsBefore} dials by it, ` +
      `trouble lines ${troubleAfter.map((l) => l.length).join("/")} (${load()})`,
  );
  for (const [i, lines] of troubleAfter.entries()) {
    assert.equal(lines, [], `${list[i].name} logged trouble after a step:\n${lines.join("\n")}`);
  }
  assert.is(dialsAfter - dialsBefore, 0, `the stepped member dialled again\n${context()}`);
});

test.run();
