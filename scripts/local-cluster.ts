/**
 * Starts a local cohort cluster on loopback: N member daemons with temporary state directories,
 * the first bootstrapped, the others joined with fresh tokens. Prints a progress line per step,
 * then the member table and, for each member, its state directory and a command line that
 * reaches it, and keeps running until interrupted (SIGINT or SIGTERM, however often); then it
 * stops every member it started (by PID) and removes their directories.
 *
 * `npm run cluster` runs it with `exec`, so npm's signal reaches this process and not only the
 * shell npm starts (which would not pass it on).
 *
 * Usage: `npm run cluster -- [--members N] [--runtime node|deno] [--extensions a,b]
 *         [--member-extensions 2=a,b,c ...]`
 * - `--extensions` is every member's app extension list (default `feature_a,feature_b`).
 * - `--member-extensions I=LIST` overrides member I's list (1-based), so a mismatch can be
 *   watched being refused.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import process from "node:process";
import { freePort } from "../tests/helpers/process.ts";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dirname ?? ".", "..");
const USAGE = "Usage: local-cluster [--members N] [--runtime node|deno] [--extensions a,b] " +
  "[--member-extensions I=a,b,c ...]";

function usage(message: string): never {
  console.error(`Error: ${message}\n${USAGE}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      members: { type: "string", default: "3" },
      runtime: { type: "string", default: "node" },
      extensions: { type: "string", default: "feature_a,feature_b" },
      "member-extensions": { type: "string", multiple: true, default: [] },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (err) {
  usage((err as Error).message);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const count = Number(args.members);
if (!Number.isInteger(count) || count < 1 || count > 50) {
  usage(`--members must be a whole number from 1 to 50, got "${args.members}"`);
}
if (args.runtime !== "node" && args.runtime !== "deno") {
  usage(`--runtime must be node or deno, got "${args.runtime}"`);
}
const extensionsOf = new Map<number, string>();
for (const spec of args["member-extensions"]) {
  const m = /^(\d+)=(.*)$/.exec(spec);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > count) {
    usage(`--member-extensions must be I=LIST with I from 1 to ${count}, got "${spec}"`);
  }
  extensionsOf.set(Number(m[1]), m[2]);
}

/** `word` quoted for a POSIX shell when it needs it. */
const quote = (word: string) =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
/** A path as the user can type it where they ran the command (npm sets INIT_CWD). */
const typed = (path: string) => {
  const rel = relative(process.env.INIT_CWD ?? process.cwd(), path);
  return quote(rel.startsWith("..") || rel.startsWith("/") ? rel : rel || ".");
};
/** The command line that runs the cohort CLI with this script's runtime, for the user to copy. */
const cliCommand = args.runtime === "deno"
  ? `npx deno run -A ${typed(join(root, "mod.ts"))}`
  : `node ${typed(join(root, "dist/mod.js"))}`;

const entry = args.runtime === "deno"
  ? { command: join(root, "node_modules/.bin/deno"), args: ["run", "-A", join(root, "mod.ts")] }
  : { command: process.execPath, args: [join(root, "dist/mod.js")] };
if (args.runtime === "node" && !existsSync(join(root, "dist/mod.js"))) {
  usage("dist/mod.js is missing: run `npm run build` first (npm run cluster does)");
}

interface Member {
  index: number;
  name: string;
  dir: string;
  address: string;
  child?: ChildProcess;
  /** The end of the daemon's log (stderr), shown when it exits early. */
  logTail: string;
}
const members: Member[] = [];
const step = (text: string) => console.error(`[local-cluster] ${text}`);

function cohort(
  member: Member,
  argv: string[],
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(entry.command, [...entry.args, ...argv, "--state-dir", member.dir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    child.on("close", (code) => done({ code: code ?? 1, out, err }));
  });
}

async function waitForSocket(member: Member): Promise<void> {
  const socket = join(member.dir, "control.socket");
  for (let i = 0; i < 400; i++) {
    if (member.child?.exitCode !== null) {
      throw new Error(`${member.name} exited early:\n${member.logTail.trimEnd()}`);
    }
    if (existsSync(socket)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${member.name} did not open its control socket`);
}

let stopping = false;
async function stopAll(code: number): Promise<void> {
  // A Ctrl-C reaches this process twice under npm (from the terminal and forwarded by npm): the
  // first one stops the members, the others wait for that; stopping is bounded by a SIGKILL.
  if (stopping) return;
  stopping = true;
  step("stopping members");
  for (const m of members) {
    if (m.child?.pid && m.child.exitCode === null) process.kill(m.child.pid, "SIGTERM");
  }
  const deadline = Date.now() + 10_000;
  for (const m of members) {
    while (m.child && m.child.exitCode === null && m.child.signalCode === null) {
      if (Date.now() > deadline) {
        if (m.child.pid) process.kill(m.child.pid, "SIGKILL");
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    rmSync(m.dir, { recursive: true, force: true });
  }
  step("stopped every member and removed their state directories");
  process.exit(code);
}
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

try {
  for (let i = 1; i <= count && !stopping; i++) {
    const name = `member${i}`;
    const dir = mkdtempSync(join(tmpdir(), `cohort-${name}-`));
    const address = `127.0.0.1:${await freePort()}`;
    const member: Member = { index: i, name, dir, address, logTail: "" };
    const extensions = extensionsOf.get(i) ?? args.extensions;
    member.child = spawn(entry.command, [
      ...entry.args,
      "daemon",
      "--state-dir",
      dir,
      "--extensions",
      extensions,
    ], { stdio: ["ignore", "ignore", "pipe"] });
    member.child.stderr!.on("data", (d) => (member.logTail = (member.logTail + d).slice(-4000)));
    members.push(member);
    step(`started ${name} (pid ${member.child.pid}, ${args.runtime}) extensions [${extensions}]`);
  }
  const [first, ...rest] = members;
  await waitForSocket(first);
  let started = Date.now();
  const boot = await cohort(first, ["init", first.name, first.address, "--bootstrap"]);
  if (boot.code !== 0) throw new Error(`bootstrap failed: ${boot.err.trim()}`);
  step(`bootstrapped ${first.name} at ${first.address} (${Date.now() - started} ms)`);
  for (const m of rest) {
    if (stopping) break;
    await waitForSocket(m);
    const token = await cohort(first, ["tokens", "add", m.name]);
    if (token.code !== 0) {
      step(`could not issue a token for ${m.name}: ${token.err.trim()}`);
      continue;
    }
    started = Date.now();
    const joined = await cohort(m, ["init", m.name, m.address, "--token", token.out.trim()]);
    if (joined.code === 0) step(`joined ${m.name} at ${m.address} (${Date.now() - started} ms)`);
    else step(`${m.name} was refused: ${joined.err.replace(/^Error: /, "").trim()}`);
  }
  const table = await cohort(first, ["cluster", "list"]);
  console.log(table.out || table.err);
  console.log(
    "State directories, each with a command that reaches its member (any cohort command):",
  );
  const width = Math.max(...members.map((m) => m.name.length));
  for (const m of members) {
    console.log(`  ${m.name.padEnd(width)}  ${m.address}  ${m.dir}`);
    console.log(`    ${cliCommand} cluster list --state-dir ${quote(m.dir)}`);
  }
  console.log();
  if (!stopping) step("running; press Ctrl-C to stop");
} catch (err) {
  if (!stopping) {
    step(`failed: ${(err as Error).message}`);
    await stopAll(1);
  }
}
