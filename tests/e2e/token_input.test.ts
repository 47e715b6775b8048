/**
 * A join token never shows in `ps` (issue 12, defect 9): `cohort init` reads it from standard
 * input (`--token -`), a file (`--token-file`) or `COHORT_JOIN_TOKEN`, and the test reads the
 * real CLI process's `/proc/PID/cmdline` while it runs. `--token TOKEN` is the control case: there
 * the token is visible.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { selfCommand } from "../../lib/runtime.ts";
import {
  allOnline,
  bootstrap,
  issueToken,
  type Member,
  newMember,
  startMember,
  stopMembers,
} from "../helpers/cluster.ts";
import { cohortPiped, ENTRY } from "../helpers/process.ts";

interface Ctx {
  members: Member[];
}

const test = suite<Ctx>("join token input");

test.before(async (ctx) => {
  ctx.members = [];
  const first = await startMember(await newMember("t1"));
  ctx.members.push(first);
  await bootstrap(first);
});

test.after(async (ctx) => {
  await stopMembers(ctx.members);
});

/** A CLI process, its command line as `ps` shows it (read at once), and its outcome. */
interface Cli {
  child: ChildProcess;
  cmdline: string;
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Cli> {
  const { command, args: prefix } = selfCommand(ENTRY);
  const child = spawn(command, [...prefix, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }))
  );
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("spawn", () => {
      // Read while the process runs, once it runs the CLI (right after a spawn the command line
      // may still be the parent's): its runtime takes far longer to start than this loop.
      const deadline = Date.now() + 10_000;
      let cmdline = "";
      while (Date.now() < deadline) {
        try {
          cmdline = readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0").join(" ");
        } catch {
          break; // gone
        }
        if (cmdline.includes(" init ")) break;
      }
      if (!cmdline.includes(" init ")) {
        reject(new Error(`never saw the CLI's command line: ${cmdline}`));
      } else resolve({ child, cmdline, done });
    });
  });
}

async function joiner(ctx: Ctx, name: string): Promise<{ m: Member; token: string }> {
  const m = await startMember(await newMember(name));
  ctx.members.push(m);
  return { m, token: await issueToken(ctx.members[0], name) };
}

test("--token TOKEN shows the token in /proc/PID/cmdline (the control case)", async () => {
  const run = await cli([
    "init",
    "x",
    "127.0.0.1:1",
    "--token",
    "SECRET-IN-ARGV",
    "--state-dir",
    "/nonexistent",
  ]);
  assert.match(run.cmdline, "SECRET-IN-ARGV");
  assert.is((await run.done).code, 1);
});

test("--token - reads the token from standard input; ps shows no token", async (ctx) => {
  const { m, token } = await joiner(ctx, "t2");
  const run = await cli(["init", m.name, m.address, "--token", "-", "--state-dir", m.dir]);
  assert.match(run.cmdline, "--token -");
  assert.not.match(run.cmdline, token);
  run.child.stdin!.end(token + "\n");
  const result = await run.done;
  assert.is(result.stderr, "");
  assert.is(result.code, 0);
  assert.match(result.stdout, `Joined cohort member "t2"`);
});

test("--token - waits for a pipe whose writer is slower than the CLI's start (a shell pipeline)", async (ctx) => {
  // `tokens add NAME | ssh host cohort init NAME ADDR --token -`: the CLI starts before the token
  // is written, on a pipe the shell made. A synchronous read of it failed with EAGAIN under Node.
  const { m, token } = await joiner(ctx, "t5");
  const run = await cohortPiped(
    ["init", m.name, m.address, "--token", "-", "--state-dir", m.dir],
    token,
  );
  assert.is(run.stderr, "");
  assert.is(run.code, 0);
  assert.match(run.stdout, `Joined cohort member "t5"`);
});

test("--token-file reads the token from a file (here a FIFO the test holds); ps shows no token", async (ctx) => {
  const { m, token } = await joiner(ctx, "t3");
  const fifo = join(m.dir, "token.fifo");
  execFileSync("mkfifo", ["-m", "0600", fifo]);
  const run = await cli(["init", m.name, m.address, "--token-file", fifo, "--state-dir", m.dir]);
  // The CLI is blocked opening the FIFO until the test writes: certainly running now.
  assert.match(run.cmdline, `--token-file ${fifo}`);
  assert.not.match(run.cmdline, token);
  assert.not.match(readFileSync(`/proc/${run.child.pid}/cmdline`, "utf8"), token);
  writeFileSync(fifo, token + "\n");
  const result = await run.done;
  assert.is(result.stderr, "");
  assert.is(result.code, 0);
  assert.match(result.stdout, `Joined cohort member "t3"`);
});

test("COHORT_JOIN_TOKEN gives the token through the environment; ps shows no token", async (ctx) => {
  const { m, token } = await joiner(ctx, "t4");
  const run = await cli(["init", m.name, m.address, "--state-dir", m.dir], {
    COHORT_JOIN_TOKEN: token,
  });
  assert.not.match(run.cmdline, token);
  const result = await run.done;
  assert.is(result.stderr, "");
  assert.is(result.code, 0);
  assert.match(result.stdout, `Joined cohort member "t4"`);
  await allOnline(ctx.members, ["t1", "t2", "t3", "t4", "t5"]);
});

test("--help documents every way to give the token", async () => {
  const run = await cli(["init", "--help", "--state-dir", "/nonexistent"]);
  const { stdout, code } = await run.done;
  assert.is(code, 0);
  for (const text of ["--token -", "--token-file PATH", "COHORT_JOIN_TOKEN", "visible"]) {
    assert.match(stdout, text);
  }
});

test.run();
