/**
 * The one test command (`npm test`): static checks, then every uvu suite under Node and under
 * Deno, then a closing line `N passed, N failed` that CI reads.
 *
 * Usage: `tsx scripts/test.ts [--runtime node|deno] [--no-checks] [--faults] [pattern]`
 * - `pattern` is a regular expression over test file paths below `tests/` (default: all
 *   `*.test.ts`).
 * - `--faults` runs the fault matrix instead (`tests/faults/*.fault.ts`: network namespaces,
 *   root; `npm run test:faults`), without the static checks and with a longer time limit.
 *
 * uvu files are run with `deno run -A`, never `deno test`, which would report them as passing
 * without running them.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dirname ?? ".", "..");
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runtime: { type: "string", multiple: true },
    "no-checks": { type: "boolean", default: false },
    faults: { type: "boolean", default: false },
  },
});
const runtimes = values.runtime ?? ["node", "deno"];
// uvu imports every file matching its pattern, so a filter must still end in the suffix.
const suffix = values.faults ? "\\.fault\\.ts$" : "\\.test\\.ts$";
const pattern = positionals[0] ? `^(?=.*(?:${positionals[0]})).*${suffix}` : suffix;
const bin = (name: string) => resolve(root, "node_modules/.bin", name);
const RUN_TIMEOUT_MS = values.faults ? 40 * 60_000 : 240_000;

let passed = 0;
let failed = 0;
let skipped = 0;

function run(
  label: string,
  command: string,
  args: string[],
): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    const started = Date.now();
    process.stdout.write(`\n=== ${label}\n`);
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      process.stdout.write(text);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const timer = setTimeout(() => {
      process.stdout.write(`\n${label}: timed out after ${RUN_TIMEOUT_MS / 1000} s\n`);
      child.kill("SIGKILL");
    }, RUN_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      process.stdout.write(`--- ${label}: exit ${code} in ${Date.now() - started} ms\n`);
      done({ code: code ?? 1, output });
    });
  });
}

async function check(label: string, command: string, args: string[]): Promise<void> {
  const { code } = await run(label, command, args);
  if (code === 0) passed++;
  else failed++;
}

async function suites(runtime: string): Promise<void> {
  const uvu = resolve(root, "node_modules/uvu/bin.js");
  const [command, args] = runtime === "deno"
    ? [bin("deno"), ["run", "-A", uvu, "tests", pattern]]
    : [process.execPath, ["--import", "tsx", uvu, "tests", pattern]];
  const { code, output } = await run(`uvu under ${runtime}`, command, args);
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const num = (re: RegExp) => Number(plain.match(re)?.[1] ?? 0);
  const total = num(/Total:\s+(\d+)/);
  const ok = num(/Passed:\s+(\d+)/);
  const skip = num(/Skipped:\s+(\d+)/);
  passed += ok;
  skipped += skip;
  // uvu's Total counts the tests that ran: skipped ones are not in it.
  let bad = total - ok;
  // A crash before uvu's summary (a file that fails to load, a timeout) still counts as a failure.
  if (code !== 0 && bad <= 0) bad = 1;
  failed += bad;
}

if (!values["no-checks"] && !values.faults) {
  await check("type check (tsc --noEmit)", bin("tsc"), ["--noEmit", "-p", "tsconfig.json"]);
  await check("deno lint", bin("deno"), ["lint", "--quiet"]);
  await check("deno fmt --check", bin("deno"), ["fmt", "--check", "--quiet"]);
  await check("import rules", process.execPath, [
    "--import",
    "tsx",
    resolve(root, "scripts/check_imports.ts"),
  ]);
}
for (const runtime of runtimes) await suites(runtime);

console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 ? 0 : 1);
