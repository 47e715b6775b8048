/**
 * A rolling upgrade from an older cohort build to this tree's, with real daemons of both side by
 * side, as an operator runs it: N members of the old build (bootstrap + tokens through its CLI),
 * a state of app records of mostly non-ASCII characters (euro signs, several hundred KiB in
 * UTF-8), then each member in turn stopped and restarted on the same state directory with this
 * tree's `dist/`. After every step it checks, on every member: every other member listed and
 * ONLINE, nobody suspected or declared dead (in any daemon's log), every record present, a
 * record and an app version written on an old member seen on the new ones and back. On the
 * first step the upgraded member first starts with one more extension and must wait (not
 * ready, the others showing the upgrade), then starts with the cluster's extensions and serves.
 *
 * Usage: `npx tsx scripts/upgrade_from.ts <git-ref> [--members N] [--runtime R] [--prev-dir DIR]
 * [--keep] [--log-dir DIR]`
 * - `<git-ref>`: the older build; it is checked out in a temporary git worktree and built there
 *   (`npm run build`) with this tree's node_modules, which needs an equal package-lock.json.
 * - `--prev-dir DIR`: use an already built checkout of the older build instead (no git, no build).
 * - `--members N`: cluster size, 2 to 9 (default 3).
 * - `--runtime node|deno|mixed`: what runs each build's daemons and commands (default node):
 *   `node dist/mod.js` or `deno run -A mod.ts` of its checkout; `mixed` alternates them (u1 under
 *   Node, u2 under Deno, …) and each upgraded member switches runtime, as when an app moves from
 *   one runtime to the other during an upgrade.
 * - `--keep`: keep the temporary worktree (its path is printed) for another run.
 * - `--log-dir DIR`: write each member's daemon log lines (every process it ran) to DIR/<name>.log.
 * The script itself runs under Node (`npx tsx`) or Deno (`deno run -A`). Needs this tree's
 * `dist/` (`npm run build`) unless every member runs under Deno. Exit 0 when every check held, 1
 * otherwise.
 */
// deno-lint-ignore-file no-explicit-any
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { isDeno } from "../lib/runtime.ts";
import { freePort } from "../tests/helpers/process.ts";

const root = resolve(import.meta.dirname ?? ".", "..");
const USAGE = "Usage: upgrade_from <git-ref> [--members N] [--runtime node|deno|mixed] " +
  "[--prev-dir DIR] [--keep] [--log-dir DIR]";
const EXTENSIONS = "feature_a,feature_b";

function usage(message: string): never {
  console.error(`Error: ${message}\n${USAGE}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      members: { type: "string", default: "3" },
      runtime: { type: "string", default: "node" },
      "prev-dir": { type: "string" },
      keep: { type: "boolean", default: false },
      "log-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
} catch (err) {
  usage((err as Error).message);
}
const args = parsed.values;
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const count = Number(args.members);
if (!Number.isInteger(count) || count < 2 || count > 9) {
  usage(`--members must be a whole number from 2 to 9, got "${args.members}"`);
}
const runtimeArg = args.runtime as string;
if (!["node", "deno", "mixed"].includes(runtimeArg)) {
  usage(`--runtime must be node, deno or mixed, got "${runtimeArg}"`);
}
type Runtime = "node" | "deno";
/** The runtime member `i` (from 0) runs under on the old build, and on the new one. */
function runtimesOf(i: number): { old: Runtime; new: Runtime } {
  if (runtimeArg !== "mixed") return { old: runtimeArg as Runtime, new: runtimeArg as Runtime };
  return i % 2 === 0 ? { old: "node", new: "deno" } : { old: "deno", new: "node" };
}
/** Node's build (`dist/mod.js`) is needed unless every member runs under Deno. */
const needsDist = runtimeArg !== "deno";
const ref = parsed.positionals[0];
if (!ref && !args["prev-dir"]) usage("give the older build's git ref (or --prev-dir DIR)");
if (needsDist && !existsSync(join(root, "dist/mod.js"))) {
  usage("dist/mod.js is missing: run `npm run build`");
}

const step = (text: string) => console.error(`[upgrade_from ${elapsed()}] ${text}`);
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
  step(`${ok ? "ok  " : "FAIL"} ${what}`);
};

/** Checks out and builds `ref` in a temporary worktree; returns its path. */
function buildOld(gitRef: string): string {
  const git = (...a: string[]) => execFileSync("git", ["-C", root, ...a], { encoding: "utf8" });
  const commit = git("rev-parse", "--verify", `${gitRef}^{commit}`).trim();
  const locks = git("diff", "--name-only", commit, "--", "package-lock.json").trim();
  if (locks) {
    usage(
      `package-lock.json differs between ${gitRef} and this tree: build that checkout with ` +
        `its own node_modules and pass --prev-dir DIR`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "cohort-prev-"));
  rmSync(dir, { recursive: true });
  step(`checking out ${gitRef} (${commit.slice(0, 9)}) in ${dir}`);
  git("worktree", "add", "--detach", dir, commit);
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  if (needsDist) {
    step("building it (npm run build)");
    execFileSync("npm", ["run", "build"], { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
  }
  return dir;
}

const prevDir = args["prev-dir"] ? resolve(args["prev-dir"]) : buildOld(ref!);
if (needsDist && !existsSync(join(prevDir, "dist/mod.js"))) {
  usage(`${prevDir}/dist/mod.js is missing`);
}
if (runtimeArg !== "node" && !existsSync(join(prevDir, "mod.ts"))) {
  usage(`${prevDir}/mod.ts is missing`);
}

/** The Deno executable: this one under Deno, else the package's (`npm i deno`), else PATH's. */
const DENO = isDeno
  ? process.execPath
  : existsSync(join(root, "node_modules/.bin/deno"))
  ? join(root, "node_modules/.bin/deno")
  : "deno";
const NODE = isDeno ? "node" : process.execPath;

type Build = "old" | "new";
/** The command running `build` under `runtime`, and the folder it runs in (Deno finds deno.json there). */
function command(build: Build, runtime: Runtime): { command: string; args: string[]; cwd: string } {
  const dir = build === "old" ? prevDir : root;
  return runtime === "deno"
    ? { command: DENO, args: ["run", "-A", join(dir, "mod.ts")], cwd: dir }
    : { command: NODE, args: [join(dir, "dist/mod.js")], cwd: dir };
}

interface Member {
  name: string;
  dir: string;
  address: string;
  build: Build;
  runtime: Runtime;
  /** The runtime it runs under once upgraded. */
  upgradedRuntime: Runtime;
  child?: ChildProcess;
  /** Resolves once `child` has exited (its 'exit' event: under Deno, not its `signalCode`). */
  exited?: Promise<void>;
  /** `child` has not exited yet. */
  running: boolean;
  /** Every log line of every daemon process this member ran. */
  log: string;
}
const members: Member[] = [];
const kind = (m: Member) => `${m.build}, ${m.runtime}`;

function cli(m: Member, argv: string[], input?: string): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    const run = command(m.build, m.runtime);
    const child = spawn(run.command, [...run.args, ...argv, "--state-dir", m.dir], {
      cwd: run.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    child.stdin!.end(input ?? "");
    child.on("close", (code) => done({ code: code ?? 1, out: out.trim() }));
  });
}

/** A request on `m`'s control socket; the JSON answer. */
function api(m: Member, method: string, path: string, body?: unknown): Promise<any> {
  return new Promise((done, fail) => {
    const req = request({
      socketPath: join(m.dir, "control.socket"),
      method,
      path,
      headers: { "content-type": "application/json" },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        try {
          done({ ...JSON.parse(text), status: res.statusCode });
        } catch {
          done({ status: res.statusCode, text });
        }
      });
    });
    req.on("error", fail);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function eventually<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000) {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return true;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  step(`gave up waiting: ${what}${last ? ` (${(last as Error).message})` : ""}`);
  return false;
}

async function startDaemon(m: Member, extensions = EXTENSIONS): Promise<void> {
  const run = command(m.build, m.runtime);
  m.child = spawn(run.command, [
    ...run.args,
    "daemon",
    "--state-dir",
    m.dir,
    "--extensions",
    extensions,
  ], { cwd: run.cwd, stdio: ["ignore", "ignore", "pipe"] });
  const child = m.child;
  let ended = "";
  m.running = true;
  m.exited = new Promise((done) =>
    child.once("exit", (code, signal) => {
      ended = `exited ${code ?? signal}`;
      m.running = false;
      done();
    })
  );
  child.stderr!.on("data", (d) => (m.log += d));
  const socket = join(m.dir, "control.socket");
  const up = await eventually(`${m.name} control socket`, async () => {
    if (ended) throw new Error(ended);
    return existsSync(socket) && (await api(m, "GET", "/core/1.0")).status === 200;
  }, 60_000);
  if (!up) throw new Error(`${m.name} did not start:\n${m.log.slice(-3000)}`);
}

/**
 * Stops `m`'s daemon (SIGTERM, SIGKILL after 10 s) and waits until it has exited. Signals go by
 * PID and the wait is on the 'exit' event: under Deno, `ChildProcess.kill` sets `signalCode` at
 * once, before the child has exited, and refuses any later signal (the SIGKILL); a wait on
 * `signalCode` started the upgraded daemon beside the old one, whose exit then removed the new
 * one's control socket.
 */
async function stopDaemon(m: Member): Promise<void> {
  const c = m.child;
  if (!c?.pid || !m.running) return;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(c.pid!, name);
    } catch { /* gone already */ }
  };
  signal("SIGTERM");
  const late = setTimeout(() => signal("SIGKILL"), 10_000);
  await m.exited;
  clearTimeout(late);
}

/** Whether process `pid` runs (a zombie, ended but not reaped, does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return !existsSync("/proc/self");
  }
}

/**
 * Stops `m`'s daemon and checks that it is gone before another starts on its directory: its
 * process ended and its control socket silent (a daemon left running beside the next one
 * removes the next one's socket as it exits).
 */
async function stopChecked(m: Member, label: string): Promise<void> {
  const pid = m.child?.pid;
  const was = kind(m);
  await stopDaemon(m);
  const running = pid !== undefined && alive(pid);
  const answers = await api(m, "GET", "/core/1.0").then(() => true, () => false);
  check(
    !running && !answers,
    `${label}: ${m.name}'s daemon (${was}) has exited before the next starts` +
      (running || answers
        ? ` (process ${running ? "runs" : "gone"}, socket ` +
          `${answers ? "answers" : "silent"})`
        : ""),
  );
}

/** `name:STATUS` of every entry `m` lists, sorted. */
async function view(m: Member): Promise<string> {
  const res = await api(m, "GET", "/core/1.0/cluster");
  return res.metadata.map((e: any) => `${e.name}:${e.status}`).sort().join(",");
}

/** Log lines (any daemon of any member) that say a member was suspected or declared dead. */
function suspicions(): string[] {
  const out: string[] = [];
  for (const m of members) {
    for (const line of m.log.split("\n")) {
      if (/suspect|declared dead|"dead"/i.test(line) && !/refute/i.test(line)) {
        out.push(`${m.name}: ${line.slice(0, 300)}`);
      }
    }
  }
  return out;
}

// Records: values of euro signs, 4000 chars each (12 000 UTF-8 bytes); 60 of them are 240 000
// chars, under the 262 144-char budget, and 720 000 bytes: more than one 384 KiB frame.
const EURO_RECORDS = 60;
const euroValue = (i: number) => `${i}:`.padEnd(4000, "€");

async function recordsOn(m: Member, prefix: string): Promise<Map<string, unknown>> {
  const res = await api(m, "GET", `/core/1.0/records?prefix=${encodeURIComponent(prefix)}`);
  if (res.status !== 200) throw new Error(`records on ${m.name}: ${res.status} ${res.error}`);
  return new Map(res.metadata.map((r: any) => [r.key, r.value]));
}

async function put(m: Member, key: string, value: unknown): Promise<void> {
  const res = await api(m, "PUT", `/core/1.0/records/${encodeURIComponent(key)}`, { value });
  if (res.status !== 200) throw new Error(`put ${key} on ${m.name}: ${res.status} ${res.error}`);
}

/** Every member sees every other ONLINE, all euro records, and no suspicion was logged. */
async function checkAll(label: string): Promise<void> {
  const want = members.map((m) => `${m.name}:ONLINE`).sort().join(",");
  for (const m of members) {
    let got = "";
    const ok = await eventually(`${m.name} lists all ONLINE`, async () => {
      got = await view(m);
      return got === want;
    });
    check(ok, `${label}: ${m.name} (${kind(m)}) lists ${ok ? "every member ONLINE" : got}`);
  }
  for (const m of members) {
    let n = 0;
    const ok = await eventually(`${m.name} euro records`, async () => {
      const got = await recordsOn(m, "euro/");
      n = [...got].filter(([k, v]) => v === euroValue(Number(k.slice(5)))).length;
      return n === EURO_RECORDS;
    });
    check(ok, `${label}: ${m.name} (${kind(m)}) holds ${n}/${EURO_RECORDS} euro records`);
  }
  const s = suspicions();
  check(
    s.length === 0,
    `${label}: no member suspected or declared dead` +
      (s.length ? `:\n  ${s.slice(0, 5).join("\n  ")}` : ""),
  );
}

/** A record and an app version written on `from` are seen on every member in `to`. */
async function spreads(label: string, from: Member, to: Member[]): Promise<void> {
  const key = `probe/${from.name}-${Date.now()}`;
  const value = `${label} ${"€".repeat(100)}`;
  await put(from, key, value);
  for (const m of to) {
    const ok = await eventually(
      `${key} on ${m.name}`,
      async () => (await recordsOn(m, key)).get(key) === value,
    );
    check(
      ok,
      `${label}: record put on ${from.name} (${kind(from)}) seen on ${m.name} (${kind(m)})`,
    );
  }
  const version = `9.${Date.now() % 100000}.0`;
  const set = await cli(from, ["app-version", version]);
  if (set.code !== 0) throw new Error(`app-version on ${from.name}: ${set.out}`);
  for (const m of to) {
    const ok = await eventually(`app version of ${from.name} on ${m.name}`, async () => {
      const res = await api(m, "GET", "/core/1.0/cluster");
      return res.metadata.find((e: any) => e.name === from.name)?.app_version === version;
    });
    check(
      ok,
      `${label}: app version set on ${from.name} (${kind(from)}) seen on ${m.name} (${kind(m)})`,
    );
  }
}

async function main(): Promise<void> {
  for (let i = 1; i <= count; i++) {
    const dir = mkdtempSync(join(tmpdir(), `cohort-up${i}-`));
    members.push({
      name: `u${i}`,
      dir,
      address: `127.0.0.1:${await freePort()}`,
      build: "old",
      runtime: runtimesOf(i - 1).old,
      upgradedRuntime: runtimesOf(i - 1).new,
      log: "",
      running: false,
    });
  }
  await Promise.all(members.map((m) => startDaemon(m)));
  const [first, ...rest] = members;
  const boot = await cli(first, ["init", first.name, first.address, "--bootstrap"]);
  if (boot.code !== 0) throw new Error(`bootstrap: ${boot.out}`);
  for (const m of rest) {
    const token = await cli(first, ["tokens", "add", m.name]);
    if (token.code !== 0) throw new Error(`token for ${m.name}: ${token.out}`);
    const joined = await cli(m, ["init", m.name, m.address, "--token", "-"], token.out + "\n");
    if (joined.code !== 0) throw new Error(`${m.name} join: ${joined.out}`);
  }
  step(
    `formed ${count} members of the old build (${prevDir}): ` +
      members.map((m) => `${m.name} under ${m.runtime}`).join(", "),
  );
  for (let i = 0; i < EURO_RECORDS; i++) await put(members[i % count], `euro/${i}`, euroValue(i));
  step(
    `put ${EURO_RECORDS} euro records (${EURO_RECORDS * 4002} JSON chars, ` +
      `${EURO_RECORDS * 12002} UTF-8 bytes)`,
  );
  await checkAll("old cluster");

  for (let i = 0; i < count; i++) {
    const m = members[i];
    const label = `step ${i + 1}/${count}`;
    await stopChecked(m, label);
    m.build = "new";
    m.runtime = m.upgradedRuntime;
    if (i === 0) {
      // Ahead by one extension: it must wait, and the others must show the upgrade.
      await startDaemon(m, `${EXTENSIONS},feature_upgrade_probe`);
      const ready = (await api(m, "GET", "/core/1.0")).metadata?.ready;
      check(
        ready === false,
        `${label}: ${m.name} (${kind(m)}, one more extension) waits (ready: ${ready})`,
      );
      for (const o of members.slice(1)) {
        let got = "";
        const ok = await eventually(`${o.name} shows the upgrade`, async () => {
          got = await view(o);
          return /UPGRADING|NEEDS UPGRADE/.test(got);
        });
        check(ok, `${label}: ${o.name} (${kind(o)}) shows the upgrade: ${got}`);
      }
      await stopChecked(m, label);
    }
    await startDaemon(m);
    let ready: unknown;
    await eventually(`${m.name} ready`, async () => {
      ready = (await api(m, "GET", "/core/1.0")).metadata?.ready;
      return ready === true;
    });
    check(
      ready === true,
      `${label}: ${m.name} (${kind(m)}) upgraded with the same extensions serves (ready: ${ready})`,
    );
    await checkAll(label);
    const olds = members.filter((o) => o.build === "old");
    const news = members.filter((o) => o.build === "new");
    if (olds.length > 0) {
      await spreads(label, olds[0], news);
      await spreads(label, news[news.length - 1], olds);
    } else await spreads(label, m, members.filter((o) => o !== m));
  }
}

/**
 * A log line of a frame refused for its size: ws's close code 1009 (not digits of a timestamp,
 * which matched before) or its message.
 */
const FRAME_REFUSED = /(?<!\d)1009(?!\d)|too big|Max payload/i;

let code = 0;
try {
  await main();
} catch (err) {
  failures.push(String((err as Error).stack ?? err));
  step(`FAIL ${(err as Error).message}`);
} finally {
  for (const m of members) await stopDaemon(m);
  if (args["log-dir"]) {
    mkdirSync(args["log-dir"], { recursive: true });
    for (const m of members) writeFileSync(join(args["log-dir"], `${m.name}.log`), m.log);
    step(`daemon logs in ${resolve(args["log-dir"])}`);
  }
  for (const m of members) rmSync(m.dir, { recursive: true, force: true });
  if (!args["prev-dir"] && !args.keep) {
    execFileSync("git", ["-C", root, "worktree", "remove", "--force", prevDir]);
  } else if (!args["prev-dir"]) step(`kept the old build in ${prevDir}`);
  const frames = members.flatMap((m) =>
    m.log.split("\n").filter((l) => FRAME_REFUSED.test(l)).map((l) =>
      `${m.name}: ${l.slice(0, 200)}`
    )
  );
  if (frames.length) {
    step(`frames refused for size (${frames.length}):\n  ${frames.slice(0, 5).join("\n  ")}`);
  }
  code = failures.length ? 1 : 0;
  step(failures.length ? `${failures.length} check(s) failed` : "every check held");
}
process.exit(code);
