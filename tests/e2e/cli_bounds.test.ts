/**
 * Every numeric, duration and enumerated flag of the command line, fed its edge values from
 * outside: the real `cohort` against a real, initialised member (a daemon's own flags against a
 * spare state directory, where a value taken would start a daemon). Each value out of bounds
 * must exit 2 naming the flag and its rule, each value at a bound must succeed, and the help
 * must state the bound. Found by it: `sql --timeout 1000` ran with 60 s and said nothing (the
 * API answers 400 for 61), `tokens add --expire-after 0.1ms` made a token that never expires,
 * `shutdown --timeout 1e308` gave up at once with the daemon running, and a flag given twice
 * silently took its last value.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { selfCommand } from "../../lib/runtime.ts";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  api,
  bootstrap,
  type Member,
  newMember,
  run,
  startMember,
  stopMembers,
} from "../helpers/cluster.ts";
import {
  CLI_ENTRY,
  lastLines,
  outcome,
  removeDir,
  type Run,
  spawnTracked,
  startDaemonProcess,
  tempDir,
} from "../helpers/process.ts";

/** The values every flag is fed, beside its own bounds (`=` keeps a leading `-` a value). */
const EDGES = ["0", "-1", "1e308", "9007199254740993", "NaN", "10s", ""];

/** One flag of one command. */
interface Row {
  /** The command and its other arguments (a fresh list per run: token names differ). */
  command: () => string[];
  flag: string;
  /** The refusal of `value`: the whole message line, or a pattern where the rule varies. */
  refusal: (value: string) => string | RegExp;
  /** What `command --help` must say of the bound. */
  help: RegExp;
  /** Values at a bound (and other values it takes), each run and expected to succeed. */
  ok: string[];
  /** Values just outside its bounds. */
  out: string[];
  /** A value it takes, given twice. */
  twice: string;
  /** Of {@link EDGES}, those it takes (not refused; run when in `ok`). */
  takes?: string[];
  /** Runs against a spare state directory (a daemon's flags: no member there to reach). */
  spare?: boolean;
}

const rule = (flag: string, text: string) => (value: string) =>
  `Error: ${flag} must be ${text}, got "${value}"`;
const SQL_RULE = rule("--timeout", "a number of seconds from 0.001 to 60");
const FORMAT_RULE = rule("--format", "one of table, json, yaml");
const DURATION = "such as 30m, 3h, 1h30m or 2d";
let tokens = 0;

const ROWS: Row[] = [
  {
    command: () => ["sql", "SELECT 1"],
    flag: "--timeout",
    refusal: SQL_RULE,
    help: /--timeout SECONDS +Cancel the statements after this long: 0\.001 to 60 /,
    ok: ["60"],
    out: ["60.001", "1000", "0.0009"],
    twice: "5",
  },
  {
    command: () => ["sql", ".schema"],
    flag: "--timeout",
    refusal: SQL_RULE,
    help: /0\.001 to 60/,
    ok: ["60"],
    out: ["60.001", "1000"],
    twice: "5",
  },
  {
    command: () => ["tokens", "add", `bound${++tokens}`],
    flag: "--expire-after",
    refusal: rule(
      "--expire-after",
      `0 (never expires) or a duration from 1ms to 36525d, ${DURATION}`,
    ),
    help: /1ms to 36525d\s+\(100 years/,
    ok: ["36525d", "1ms", "0", "10s"],
    out: ["36525d1ms", "36526d", "0.1ms", "1e3d", "10"],
    takes: ["0", "10s"],
    twice: "1h",
  },
  ...[["cluster", "list"], ["tokens", "list"], ["upgrade", "status"]].map((command): Row => ({
    command: () => command,
    flag: "--format",
    refusal: FORMAT_RULE,
    help: /table \(default\), json or yaml/,
    ok: ["table", "json", "yaml"],
    out: ["TABLE", "xml"],
    twice: "json",
  })),
  {
    command: () => ["waitready"],
    flag: "--timeout",
    refusal: rule("--timeout", "0 (wait forever) or a number of seconds from 0.001 to 86400"),
    help: /0\.001 to 86400 \(default 0: wait forever\)/,
    ok: ["86400", "0"],
    out: ["86400.001", "100000"],
    takes: ["0"],
    twice: "5",
  },
  {
    command: () => ["daemon"],
    flag: "--upgrade-dead-grace",
    refusal: rule(
      "--upgrade-dead-grace",
      `0 (wait forever) or a duration from 1ms to 36525d, ${DURATION}`,
    ),
    help: /1ms to 36525d; default 0: wait forever/,
    ok: [], // a daemon started: see the test below the table
    out: ["36525d1ms", "36526d", "0.1ms"],
    takes: ["0", "10s"],
    twice: "10m",
    spare: true,
  },
  ...[["--gossip-preset", "lan, local"], ["--upgrade-policy", "strict, mixed"]].map((
    [flag, choices],
  ): Row => ({
    command: () => ["daemon"],
    flag,
    refusal: rule(flag, `one of ${choices}`),
    help: new RegExp(`${flag} \\S+ +\\S+`),
    ok: [],
    out: [choices.split(", ")[0].toUpperCase(), `${choices.split(", ")[1]} `],
    twice: choices.split(", ")[1],
    spare: true,
  })),
  {
    command: () => ["daemon"],
    flag: "--metrics-address",
    refusal: (v) => new RegExp(`^Error: --metrics-address: Invalid metrics address "${v}": \\S`),
    help: /HOST:PORT, or a PORT on/,
    ok: [],
    out: ["65536", "127.0.0.1:65536"],
    takes: ["0"],
    twice: "0",
    spare: true,
  },
  {
    command: () => ["ui"],
    flag: "--listen",
    refusal: (v) => new RegExp(`^Error: --listen: Invalid listen address "${v}": \\S`),
    help: /loopback HOST:PORT or a PORT/,
    ok: [], // it serves until interrupted: tests/e2e/ui
    out: ["65536", "127.0.0.1:65536"],
    takes: ["0"],
    twice: "0",
  },
  // Last: at its bound it stops the member.
  {
    command: () => ["shutdown"],
    flag: "--timeout",
    refusal: rule("--timeout", "a number of seconds from 0.001 to 86400"),
    help: /0\.001 to 86400 \(default 30\)/,
    ok: ["86400"],
    out: ["86400.001", "100000"],
    twice: "5",
  },
];

interface Ctx {
  member: Member;
  spare: string;
}

const test = suite<Ctx>(
  "CLI flag bounds",
  {} as Ctx,
  (ctx) => ctx.member?.daemon ? lastLines(ctx.member.daemon) : "",
);

test.before(async (ctx) => {
  ctx.spare = tempDir("cohort-spare-");
  ctx.member = await startMember(await newMember("b1"));
  await bootstrap(ctx.member);
});

test.after(async (ctx) => {
  await stopMembers([ctx.member]);
  removeDir(ctx.spare);
});

/**
 * `cohort <args>`, killed after `ms` when it runs on (a daemon or page that started though its
 * flag should have been refused): its output then says so.
 */
async function cli(args: string[], ms = 60_000): Promise<Run> {
  const { command, args: prefix } = selfCommand(CLI_ENTRY);
  const child = spawnTracked(command, [...prefix, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  const r = await outcome(child);
  clearTimeout(timer);
  if (r.code === -1) r.stderr = `(still running after ${ms} ms: killed)\n${r.stderr}`;
  return r;
}

/** The runs of one row: every refused value and the repeated flag, then every value taken. */
async function check(ctx: Ctx, row: Row): Promise<void> {
  const dir = row.spare ? ctx.spare : ctx.member.dir;
  const name = `${row.command().join(" ")} ${row.flag}`;
  const refused = [...row.out, ...EDGES.filter((v) => !(row.takes ?? []).includes(v))];
  for (const value of refused) {
    const r = await cli([...row.command(), `${row.flag}=${value}`, "--state-dir", dir]);
    const said = `${name}=${JSON.stringify(value)}: exit ${r.code}\n${r.stderr}${r.stdout}`;
    assert.is(r.code, 2, said);
    const first = r.stderr.split("\n")[0];
    const expected = row.refusal(value);
    if (typeof expected === "string") assert.is(first, expected, said);
    else assert.match(first, expected, said);
  }
  const r = await cli([
    ...row.command(),
    `${row.flag}=${row.twice}`,
    `${row.flag}=${row.twice}`,
    "--state-dir",
    dir,
  ]);
  assert.is(r.code, 2, `${name} twice: ${r.stderr}`);
  assert.is(r.stderr.split("\n")[0], `Error: ${row.flag} is given more than once: give it once`);
  const help = await cli([...row.command().filter((w) => !/^bound/.test(w)), "--help"]);
  assert.match(help.stdout, row.help, `${name}: the help states the bound`);
  for (const value of row.ok) {
    const r = await cli([...row.command(), `${row.flag}=${value}`, "--state-dir", dir]);
    assert.is(r.code, 0, `${name}=${JSON.stringify(value)}: ${r.stderr}`);
  }
}

// Before the rows: `shutdown --timeout` at its bound stops the member.
test("a query on standard input past the API's size limit exits 2 naming the rule, before the daemon is asked", async (ctx) => {
  // On standard input: one argument cannot pass 128 KiB (the kernel's E2BIG).
  const query = `SELECT '${"x".repeat(1024 * 1024)}'`;
  const { command, args: prefix } = selfCommand(CLI_ENTRY);
  const child = spawnTracked(command, [...prefix, "sql", "-", "--state-dir", ctx.member.dir], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  child.stdin!.end(query);
  const r = await outcome(child);
  assert.is(r.code, 2, r.stderr);
  assert.is(
    r.stderr.split("\n")[0],
    `Error: QUERY must be at most 1048576 characters, got ${query.length}`,
  );
});

test("a join token past the API's size limit exits 2 naming where it came from", async (ctx) => {
  const file = join(ctx.spare, "token");
  writeFileSync(file, "x".repeat(65_537));
  const r = await cli([
    "init",
    "m9",
    "127.0.0.1:1",
    "--token-file",
    file,
    "--state-dir",
    ctx.spare,
  ]);
  assert.is(r.code, 2, r.stderr);
  assert.is(
    r.stderr.split("\n")[0],
    `Error: The join token from "${file}" must be at most 65536 characters, got 65537`,
  );
});

for (const row of ROWS) {
  test(
    `${row.command().join(" ")} ${row.flag}: refuses ${
      row.out.join(", ")
    } and the edge values, takes ${row.ok.join(", ") || "its bounds (below)"}`,
    (ctx) => check(ctx, row),
  );
}

test("a daemon starts with its flags at their bounds", async () => {
  const dir = tempDir("cohort-bounds-daemon-");
  const d = startDaemonProcess([
    "--state-dir",
    dir,
    "--upgrade-dead-grace",
    "36525d",
    "--gossip-preset",
    "lan",
    "--upgrade-policy",
    "mixed",
    "--metrics-address",
    "0",
  ]);
  try {
    const ready = await cli(["waitready", "--timeout", "60", "--state-dir", dir]);
    assert.is(ready.code, 0, `${ready.stderr}\n${lastLines(d)}`);
    const info = await api({ dir } as Member, "GET", "/core/1.0");
    assert.is(info.status, 200);
  } finally {
    await run({ dir } as Member, ["shutdown", "--timeout", "60"]);
    d.child.kill("SIGKILL");
    await d.exited;
    removeDir(dir);
  }
});

test.run();
