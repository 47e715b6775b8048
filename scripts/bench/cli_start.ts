/**
 * Benchmark: how long a `cohort` command that only talks to a running daemon takes, end to end
 * (process start, the request over the control socket, the answer printed, the process gone),
 * as a user runs it. Compared, in alternating runs:
 *
 * - `node -e 0`: Node's own start-up, the floor;
 * - `node dist/cli.cjs …`: the installed `cohort` command (`package.json`'s `bin`), the command
 *   line bundled alone (see `scripts/bundle_cli.ts`);
 * - `node dist/mod.js …`: the library's entry point run as a program (the `bin` before the
 *   bundle: it loads the whole library before the command runs).
 *
 * Commands: `cluster list` against a bootstrapped member (`--members N` joined, default 1), and
 * `init NAME ADDR --token -` (the token on standard input), each run on a fresh uninitialised
 * member joining that cluster. Figures per row: median and min–max of the wall time, and the
 * median CPU time (user + system, from `/usr/bin/time`), which a loaded machine inflates less.
 * The target (issue 15) is under 100 ms of wall time on an idle machine: the load (`uptime`) is
 * printed with the table.
 *
 * Usage: `npm run build && node --import tsx scripts/bench/cli_start.ts [--runs 15]
 *   [--joins 6] [--members 1]`
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  bootstrap,
  issueToken,
  joinVia,
  type Member,
  newMember,
  startMember,
  startMembers,
  stopMembers,
} from "../../tests/helpers/cluster.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const { values: opts } = parseArgs({
  options: {
    runs: { type: "string", default: "15" },
    joins: { type: "string", default: "6" },
    members: { type: "string", default: "1" },
  },
});
const RUNS = Math.max(1, Math.min(200, Number(opts.runs) || 15));
const JOINS = Math.max(0, Math.min(50, Number(opts.joins) || 0));
const MEMBERS = Math.max(1, Math.min(50, Number(opts.members) || 1));
const TIME = "/usr/bin/time";
const hasTime = existsSync(TIME);
const scratch = mkdtempSync(join(tmpdir(), "cohort-cli-start-"));
const load = () =>
  spawnSync("uptime", { encoding: "utf8" }).stdout.trim().replace(/^.*load/, "load");

interface Sample {
  wallMs: number;
  cpuMs: number;
  code: number | null;
}

/** Runs `node ARGS` once, with `input` on standard input; wall and CPU time. */
function timed(args: string[], input = ""): Promise<Sample> {
  const out = join(scratch, "time.txt");
  const [cmd, argv] = hasTime
    ? [TIME, ["-f", "%U %S", "-o", out, process.execPath, ...args]]
    : [process.execPath, args];
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(cmd, argv, { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("close", (code) => {
      const wallMs = performance.now() - started;
      let cpuMs = NaN;
      if (hasTime) {
        const [u, s] = readFileSync(out, "utf8").trim().split("\n").at(-1)!.split(" ");
        cpuMs = (Number(u) + Number(s)) * 1000;
      }
      if (code !== 0) console.error(`node ${args.join(" ")}: exit ${code}\n${stderr}`);
      done({ wallMs, cpuMs, code });
    });
    child.stdin!.end(input);
  });
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const fmt = (v: number[]) =>
  v.length
    ? `${median(v).toFixed(0)} (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)})`
    : "–";

const ENTRIES = [
  { label: "cohort (dist/cli.cjs)", file: join(root, "dist/cli.cjs") },
  { label: "node dist/mod.js", file: join(root, "dist/mod.js") },
];
if (!existsSync(ENTRIES[0].file)) {
  console.error("dist/cli.cjs is missing: run `npm run build` first");
  process.exit(1);
}

const rows: { label: string; samples: Sample[] }[] = [];
const row = (label: string) => {
  let r = rows.find((x) => x.label === label);
  if (!r) rows.push(r = { label, samples: [] });
  return r.samples;
};
const loadBefore = load();
let cluster: Member[] = [];
const joiners: Member[] = [];
try {
  cluster = await startMembers(Array.from({ length: MEMBERS }, (_, i) => `cli${i}`));
  await bootstrap(cluster[0]);
  for (const m of cluster.slice(1)) await joinVia(cluster[0], m);
  const list = ["cluster", "list", "--state-dir", cluster[0].dir];
  // Warm the file system cache once per entry.
  for (const e of ENTRIES) await timed([e.file, ...list]);
  for (let r = 0; r < RUNS; r++) {
    row("`node -e 0` (Node's start-up)").push(await timed(["-e", "0"]));
    for (const e of ENTRIES) row(`${e.label} cluster list`).push(await timed([e.file, ...list]));
  }
  for (let j = 0; j < JOINS; j++) {
    const e = ENTRIES[j % ENTRIES.length];
    const m = await startMember(await newMember(`joiner${j}`));
    joiners.push(m);
    const token = await issueToken(cluster[0], m.name);
    row(`${e.label} init --token - (a join, N=${MEMBERS + j + 1})`).push(
      await timed([e.file, "init", m.name, m.address, "--token", "-", "--state-dir", m.dir], token),
    );
  }
} finally {
  await stopMembers([...cluster, ...joiners]);
  rmSync(scratch, { recursive: true, force: true });
}

console.log(
  `\nCLI commands end to end (${process.execPath} ${process.version}), ${RUNS} runs each, ` +
    `alternating; a cluster of ${MEMBERS}`,
);
console.log(`load before: ${loadBefore}; after: ${load()}\n`);
console.log("| command | n | wall ms, median (min–max) | CPU ms (user+sys), median (min–max) |");
console.log("|---|---|---|---|");
for (const { label, samples } of rows) {
  const ok = samples.filter((s) => s.code === 0);
  console.log(
    `| ${label} | ${ok.length}${
      ok.length < samples.length ? ` (+${samples.length - ok.length} failed)` : ""
    } | ${fmt(ok.map((s) => s.wallMs))} | ${fmt(ok.map((s) => s.cpuMs))} |`,
  );
}
