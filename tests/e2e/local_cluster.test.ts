/**
 * `npm run cluster` as a user runs it: the real npm script (build included) in its own process
 * group, with members of the test's runtime. It must print each member's state directory and a
 * command line that reaches it, and stop with nothing left behind when Ctrl-C reaches npm: a
 * terminal sends SIGINT to the whole foreground process group; a supervisor may signal npm alone.
 *
 * The script rebuilds `dist/`, which the test files running beside this one load: it runs in a
 * copy of the checkout (`checkoutCopy`), which it builds and runs as it would the repository.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { isDeno } from "../../lib/runtime.ts";
import { checkoutCopy, run } from "../helpers/packed.ts";

const test = suite("npm run cluster");

interface Started {
  npm: ChildProcess;
  output(): string;
  exited: Promise<number>;
}

/** Where npm runs: a copy of the checkout, made once (see the module docs). */
let checkout: string | undefined;

function startCluster(): Started {
  checkout ??= checkoutCopy();
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  delete env.FORCE_COLOR;
  const npm = spawn("npm", [
    "run",
    "cluster",
    "--",
    "--members",
    "2",
    "--runtime",
    isDeno ? "deno" : "node",
  ], { cwd: checkout, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  guard(npm.pid!);
  let output = "";
  npm.stdout!.on("data", (d) => (output += d));
  npm.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number>((done) => npm.on("close", (code) => done(code ?? -1)));
  return { npm, output: () => output, exited };
}

/**
 * npm runs in a process group of its own (a terminal's Ctrl-C goes to one), so the test runner,
 * which kills a test file's own group, would not reach it: a watcher outside both groups kills
 * npm's group if this test process dies first (e.g. killed on a timeout), and ends with the group.
 */
function guard(pgid: number): void {
  // `env kill`: dash's built-in kill takes no negative PID (a process group).
  const alive = `env kill -s 0 -- -${pgid} 2>/dev/null`;
  const script = `while kill -0 ${process.pid} 2>/dev/null && ${alive}; do sleep 1; done; ` +
    `${alive} && env kill -s KILL -- -${pgid}`;
  spawn("sh", ["-c", script], { detached: true, stdio: "ignore" }).unref();
}

/** The PIDs in process group `pgid`. */
function group(pgid: number): number[] {
  const ps = spawnSync("ps", ["-o", "pid=", "-g", String(pgid)], { encoding: "utf8" });
  return ps.stdout.split("\n").map((l) => Number(l.trim())).filter((n) => n > 0);
}

/**
 * Sends SIG`name` to `pid`, or to the process group `-pid`, with kill(1): `--` keeps a negative
 * PID from being read as an option (`kill -INT -123` can mean a signal to every process).
 */
function signal(name: "INT" | "KILL", pid: number): void {
  if (!Number.isInteger(pid) || Math.abs(pid) < 2) throw new Error(`refusing to signal ${pid}`);
  spawnSync("kill", ["-s", name, "--", String(pid)]);
}

async function until(what: string, ok: () => boolean, timeoutMs: number, detail: () => string) {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${detail()}`);
    await sleep(100);
  }
}

interface Listed {
  name: string;
  dir: string;
  command: string;
}

/** The members block: `  NAME  ADDRESS  DIR` then `    COMMAND` for each member. */
function listed(output: string): Listed[] {
  const found: Listed[] = [];
  const re = /^ {2}(member\d+)\s+\S+:\d+\s+(\/\S+)\n {4}(.+)$/gm;
  for (const m of output.matchAll(re)) found.push({ name: m[1], dir: m[2], command: m[3] });
  return found;
}

async function runAndInterrupt(signalGroup: boolean): Promise<void> {
  const started = startCluster();
  const pgid = started.npm.pid!;
  try {
    await until(
      "the cluster to run",
      () => started.output().includes("press Ctrl-C to stop") || started.npm.exitCode !== null,
      150_000,
      started.output,
    );
    assert.ok(started.npm.exitCode === null, started.output());
    const members = listed(started.output());
    assert.equal(members.map((m) => m.name), ["member1", "member2"], started.output());
    for (const m of members) {
      assert.ok(existsSync(m.dir), `${m.name}'s state directory ${m.dir} exists`);
      assert.ok(m.command.includes(m.dir), m.command);
      // The printed command, as the user would paste it in the directory npm ran in.
      const reached = await run("sh", ["-c", m.command], { cwd: checkout });
      assert.is(reached.code, 0, `${m.command}\n${reached.stderr}`);
      assert.match(reached.stdout, /member1\s.*ONLINE/);
      assert.match(reached.stdout, /member2\s.*ONLINE/);
    }
    const before = group(pgid);
    assert.ok(before.length >= 4, `npm, the script and two members run: ${before}`);

    signal("INT", signalGroup ? -pgid : pgid);
    // The timer is cancelled once npm exited: left pending, it kept this file running 30 s
    // after its last test.
    const cancel = new AbortController();
    const code = await Promise.race([
      started.exited,
      sleep(30_000, -999, { signal: cancel.signal }).catch(() => -999),
    ]);
    cancel.abort();
    assert.is(code, 0, `npm exited 0 after Ctrl-C:\n${started.output()}`);
    await until(
      "every process of the group to exit",
      () => group(pgid).length === 0,
      5000,
      () => spawnSync("ps", ["-o", "pid,cmd", "-g", String(pgid)], { encoding: "utf8" }).stdout,
    );
    for (const m of members) assert.not.ok(existsSync(m.dir), `${m.dir} is removed`);
    assert.match(started.output(), "stopped every member and removed their state directories");
  } finally {
    if (group(pgid).length > 0) signal("KILL", -pgid);
    await started.exited;
  }
}

// Each run builds and starts a cluster (a minute or two on a loaded machine), so each runtime
// plays one of the two ways Ctrl-C arrives: between them, both ways and both member runtimes.
test(
  isDeno
    ? "prints each member's state directory and command; SIGINT to npm alone (deno members) leaves nothing behind"
    : "prints each member's state directory and command; Ctrl-C to npm's process group (node members) leaves nothing behind",
  async () => {
    await runAndInterrupt(!isDeno);
  },
);

test.run();
