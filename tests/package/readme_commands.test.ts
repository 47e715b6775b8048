/**
 * The README's "Running a member" block, pasted into a shell as a new user would: read from
 * README.md itself, run as one bash script in an app that installed the packed tarball, once
 * with each command the README gives an app (`C="npx cohort"`, and Deno's). Only the state
 * directories and the ports are changed (to fresh ones), and the status page's line is ended by
 * a SIGINT once it has printed its address, as the user's Ctrl-C would. Every line must exit 0
 * and print what the README says it does; both daemons must exit 0 after `shutdown`.
 *
 * cohort-test: one runtime (bash, npm, node and deno run in processes of their own, the same
 * whichever runtime drives this file).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { freePort } from "../helpers/process.ts";
import { installedApp, ROOT, scratchDir } from "../helpers/packed.ts";

const test = suite("README: Running a member, pasted");

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const section = readme.slice(readme.indexOf("## Running a member"));
const start = section.indexOf("```sh\n") + 6;
const block = section.slice(start, section.indexOf("\n```", start));
const lines = block.split("\n");
/** The `C=` line: the command itself, then the alternatives its comment names. */
const cLine = lines.find((l) => l.startsWith("C="))!;
/** The alternatives the README gives an app that installed the package. */
const forApps = [...cLine.slice(cLine.indexOf("in an app:")).matchAll(/C="([^"]+)"/g)].map((m) =>
  m[1]
);

test("the README gives an app a command for Node and one for Deno", () => {
  assert.ok(cLine, "the block sets C");
  assert.ok(forApps.includes("npx cohort"), cLine);
  assert.ok(forApps.some((c) => /^deno run -A /.test(c)), `no Deno command for an app: ${cLine}`);
});

/**
 * The block as a script: each foreground line followed by a marker with its exit status, the
 * background lines' PIDs noted, and the status page's line sent SIGINT after its first line.
 */
function script(dirs: string[], ports: number[], pids: string): string {
  const out = ["set -u"];
  let text = block.replace(/^C=.*$/m, "");
  ["/tmp/c1", "/tmp/c2"].forEach((d, i) => (text = text.replaceAll(d, dirs[i])));
  ["127.0.0.1:9001", "127.0.0.1:9002"].forEach((a, i) =>
    text = text.replaceAll(a, `127.0.0.1:${ports[i]}`)
  );
  text.split("\n").forEach((raw, n) => {
    const line = raw.replace(/\s+#.*$/, "").trim();
    if (!line) return;
    if (line.endsWith("&")) {
      out.push(line, `echo $! >> ${pids}`);
    } else if (/ ui /.test(line)) {
      // Ctrl-C once the page's address is printed: SIGINT to the command's process group, as a
      // terminal sends it (job control gives the command a group of its own). How it exits then
      // is not the README's to say: the marker notes 0 once it has ended.
      const ui = join(dirname(pids), "ui.out");
      out.push(
        `set -m; ${line} > ${ui} & ui=$!; set +m`,
        `for i in $(seq 1 600); do [ -s ${ui} ] && break; sleep 0.1; done`,
        `kill -INT -- -$ui; wait $ui; cat ${ui}; echo "::rc 0 ${n}"`,
      );
    } else {
      out.push(line, `echo "::rc $? ${n}"`);
    }
  });
  // Each daemon the block started has 30 s to end once the block is done.
  out.push(
    `for p in $(cat ${pids}); do`,
    `  for i in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done`,
    `  if kill -0 "$p" 2>/dev/null; then echo "::exit running"; else wait "$p"; echo "::exit $?"; fi`,
    `done`,
  );
  return out.join("\n") + "\n";
}

/** `command args` in `cwd` to its end: exit code and output. */
function runOut(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((done) =>
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }))
  );
}

/**
 * Runs the script in `cwd` with `C` set, to its exit (not to the end of its output: a daemon it
 * left running would hold that open), at most 300 s; then kills what is left of the daemons, by
 * the PID each wrote into its state directory.
 */
function runScript(
  file: string,
  cwd: string,
  command: string,
  dirs: string[],
): Promise<{ stdout: string; stderr: string }> {
  // `deno` as an app that has it installed finds it: on its PATH.
  const PATH = `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH}`;
  const child = spawn("bash", [file], {
    cwd,
    env: { ...process.env, C: command, PATH, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => {
    stderr += "\n[the script was killed after 300 s]";
    child.kill("SIGKILL");
  }, 300_000);
  return new Promise((done) =>
    child.on("exit", () => {
      clearTimeout(timer);
      for (const dir of dirs) {
        const file = join(dir, "daemon.pid");
        if (!existsSync(file)) continue;
        const pid = Number(readFileSync(file, "utf8"));
        try {
          if (pid > 0) process.kill(pid, "SIGKILL");
          stderr += `\n[a daemon was left running in ${dir}]`;
        } catch { /* stopped, as it should be */ }
      }
      done({ stdout, stderr });
    })
  );
}

test("`--help` works on every command and command group, and `help` on each and on itself", async () => {
  const app = await installedApp();
  const bin = join(app, "node_modules", ".bin", "cohort");
  const cohort = async (args: string[]) => {
    const r = await runOut(bin, args, app);
    assert.is(r.code, 0, `cohort ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: cohort /, `cohort ${args.join(" ")}`);
  };
  const overview = await runOut(bin, ["--help"], app);
  // "  cluster list    List the cluster's members": every command the overview names.
  const commands = [...overview.stdout.matchAll(/^ {2}([a-z-]+(?: [a-z]+)?) {2,}[A-Z]/gm)].map((
    m,
  ) => m[1].split(" "));
  assert.ok(commands.length >= 10, overview.stdout);
  const groups = [...new Set(commands.filter((c) => c.length > 1).map((c) => c[0]))];
  for (const words of [...commands, ...groups.map((g) => [g])]) {
    await cohort([...words, "--help"]);
    await cohort(["help", ...words]);
  }
  await cohort(["help", "--help"]);
  await cohort(["help", "tokens", "--help"]);
});

for (const command of forApps) {
  test(`pasted with C="${command}": every line exits 0 and says what the README says`, async () => {
    const app = await installedApp();
    const scratch = scratchDir("cohort-readme-");
    const dirs = [join(scratch, "c1"), join(scratch, "c2")];
    const ports = [await freePort(), await freePort()];
    const pids = join(scratch, "pids");
    writeFileSync(pids, "");
    writeFileSync(join(scratch, "block.sh"), script(dirs, ports, pids));
    const result = await runScript(join(scratch, "block.sh"), app, command, dirs);
    const { stdout, stderr } = result;
    // The metrics' lines left out: thousands of them say nothing of what went wrong.
    const shown = stdout.split("\n").filter((l) => !/^(# |cohort_|process_|nodejs_)/.test(l));
    const why = `stdout:\n${shown.join("\n")}\nstderr (last 3000):\n${stderr.slice(-3000)}`;
    // What each line printed, by the block's line number.
    const printed = new Map<number, string>();
    let last = 0;
    for (const m of stdout.matchAll(/::rc (\d+) (\d+)\n/g)) {
      assert.is(m[1], "0", `line "${lines[Number(m[2])]}" exited ${m[1]}\n${why}`);
      printed.set(Number(m[2]), stdout.slice(last, m.index));
      last = m.index! + m[0].length;
    }
    const commands = lines.filter((l) => l.trim() && !l.startsWith("C=") && !l.endsWith("&"));
    assert.is(printed.size, commands.length, `every foreground line ran\n${why}`);
    const out = (what: RegExp) => [...printed.entries()].find(([n]) => what.test(lines[n]))![1];
    assert.match(out(/ --bootstrap /), `Bootstrapped cohort member "c1" at 127.0.0.1:${ports[0]}`);
    assert.match(out(/--token - /), `Joined cohort member "c2" at 127.0.0.1:${ports[1]}`);
    assert.match(out(/cluster list/), new RegExp(`c1 +127\\.0\\.0\\.1:${ports[0]} .* ONLINE`));
    assert.match(out(/cluster list/), new RegExp(`c2 +127\\.0\\.0\\.1:${ports[1]} .* ONLINE`));
    assert.match(out(/ sql /), /^name +role +api_extensions\nc1 +voter +\[/);
    assert.match(out(/upgrade status/), /\nComplete\n/);
    assert.match(out(/app-version/), 'App version of "c1" is now "1.4.1"');
    assert.match(out(/ metrics /), "# TYPE cohort_members gauge");
    assert.match(out(/ ui /), /^Status page of member "c1": http:\/\/127\.0\.0\.1:\d+\/\n$/);
    // Both daemons the block started stopped, and cleanly.
    assert.equal([...stdout.matchAll(/::exit (\S+)/g)].map((m) => m[1]), ["0", "0"], why);
  });
}

test.run();
