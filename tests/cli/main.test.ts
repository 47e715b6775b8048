import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { CliDeps, DaemonCommandOptions } from "../../lib/cli/command.ts";
import type { StopOutcome } from "../../lib/daemon/stop_outcome.ts";
import { COMMANDS, runCli } from "../../lib/cli/main.ts";
import { VERSION } from "../../lib/version.ts";
import { InvalidInputError } from "../../lib/errors.ts";
import { removeDir, tempDir } from "../helpers/process.ts";
import { sink } from "./_helpers.ts";

function deps(started: DaemonCommandOptions[] = [], fail?: Error) {
  const out = sink();
  const err = sink();
  const d: CliDeps = {
    stdout: out,
    stderr: err,
    startDaemon(options) {
      if (fail) return Promise.reject(fail);
      started.push(options);
      return Promise.resolve({ closed: Promise.resolve(), stop: () => Promise.resolve() });
    },
  };
  return { d, out, err };
}

const test = suite("runCli()");

test("no arguments prints the overview on stderr and exits 2", async () => {
  const { d, err } = deps();
  assert.is(await runCli([], d), 2);
  assert.match(err.text, /Usage: cohort COMMAND/);
  assert.match(err.text, /cluster list/);
});

test("--help prints the overview on stdout and exits 0", async () => {
  const { d, out } = deps();
  assert.is(await runCli(["--help"], d), 0);
  assert.match(out.text, /Commands:/);
});

test("every command has --help", async () => {
  for (
    const argv of [
      ["daemon"],
      ["init"],
      ["cluster", "list"],
      ["sql"],
      ["waitready"],
      ["shutdown"],
      ["app-version"],
    ]
  ) {
    const { d, out } = deps();
    assert.is(await runCli([...argv, "--help"], d), 0, argv.join(" "));
    assert.match(out.text, `Usage: cohort ${argv.join(" ")}`);
  }
});

test("--version and -V print the package version on stdout and exit 0", async () => {
  for (const flag of ["--version", "-V"]) {
    const { d, out, err } = deps();
    assert.is(await runCli([flag], d), 0, flag);
    assert.is(out.text, `${VERSION}\n`, flag);
    assert.is(err.text, "", flag);
  }
  const { d, out } = deps();
  await runCli(["--help"], d);
  assert.match(out.text, /--version/, "the overview mentions --version");
});

test("every command group has --help listing its commands, and help GROUP says the same", async () => {
  const groups = [...new Set(COMMANDS.filter((c) => c.path.length > 1).map((c) => c.path[0]))];
  assert.ok(groups.includes("cluster") && groups.includes("tokens"), groups.join(", "));
  for (const group of groups) {
    const members = COMMANDS.filter((c) => c.path.length > 1 && c.path[0] === group);
    for (const argv of [[group, "--help"], [group, "-h"], ["help", group]]) {
      const { d, out, err } = deps();
      assert.is(await runCli(argv, d), 0, argv.join(" "));
      assert.is(err.text, "", argv.join(" "));
      assert.match(out.text, `Usage: cohort ${group} COMMAND`);
      for (const c of members) {
        assert.match(out.text, `${c.path.join(" ")}  `, `${argv.join(" ")} lists ${c.path}`);
        assert.match(out.text, c.summary);
      }
      for (const c of COMMANDS.filter((c) => c.path[0] !== group)) {
        assert.not.match(out.text, c.summary, `${argv.join(" ")} lists only its group`);
      }
    }
  }
});

test("a group without a command exits 2 with the group's usage", async () => {
  const { d, out, err } = deps();
  assert.is(await runCli(["tokens"], d), 2);
  assert.is(out.text, "");
  assert.match(err.text, 'Error: missing command after "tokens"');
  assert.match(err.text, "Usage: cohort tokens COMMAND");
  assert.match(err.text, "tokens revoke");
});

test("help COMMAND prints that command's usage; help of an unknown command exits 2", async () => {
  const { d, out } = deps();
  assert.is(await runCli(["help", "cluster", "list"], d), 0);
  assert.match(out.text, "Usage: cohort cluster list");
  const unknown = deps();
  assert.is(await runCli(["help", "frobnicate"], unknown.d), 2);
  assert.match(unknown.err.text, 'unknown command "frobnicate"');
});

test("an unknown command exits 2 and names it", async () => {
  const { d, err } = deps();
  assert.is(await runCli(["frobnicate"], d), 2);
  assert.match(err.text, 'unknown command "frobnicate"');
  const second = deps();
  assert.is(await runCli(["cluster", "explode"], second.d), 2);
  assert.match(second.err.text, 'unknown command "cluster explode"');
  assert.match(second.err.text, "Usage: cohort cluster COMMAND", "the group's usage follows");
});

test("an unknown flag is a usage error (exit 2)", async () => {
  const { d, err } = deps();
  assert.is(await runCli(["waitready", "--bogus"], d), 2);
  assert.match(err.text, /Unknown option '--bogus'/);
  assert.match(err.text, /Usage: cohort waitready/);
});

test("init checks its arguments before calling the daemon", async () => {
  const dir = tempDir();
  try {
    const cases: [string[], RegExp][] = [
      [["init", "c1"], /Missing argument: ADDRESS/],
      [["init", "c1", "127.0.0.1:1"], /exactly one of --bootstrap or --token/],
      [["init", "c1", "127.0.0.1:1", "--bootstrap", "--token", "x"], /exactly one of/],
      [["init", "bad_name", "127.0.0.1:1", "--bootstrap"], /Invalid NAME "bad_name"/],
      [["init", "c1", "127.0.0.1", "--bootstrap"], /Invalid ADDRESS "127.0.0.1"/],
      [["init", "c1", "h:0", "--bootstrap"], /port must be a whole number/],
      [["init", "c1", "0.0.0.0:9000", "--bootstrap"], /Invalid ADDRESS "0.0.0.0:9000": host is/],
      [["init", "c1", "127.0.0.1:1", "--token", "x", "--token-file", "f"], /the token once/],
      [["init", "c1", "127.0.0.1:1", "--bootstrap", "--token-file", "f"], /exactly one of/],
      [
        ["init", "c1", "127.0.0.1:1", "--token-file", join(dir, "missing")],
        /Cannot read the join token from ".*missing": ENOENT/,
      ],
      [["init", "c1", "127.0.0.1:1", "--token-file", join(dir, "empty")], /is empty/],
      [["init", "c1", "127.0.0.1:1", "--token", "  "], /The join token from --token is empty/],
    ];
    writeFileSync(join(dir, "empty"), "\n");
    for (const [argv, message] of cases) {
      const { d, err } = deps();
      assert.is(await runCli([...argv, "--state-dir", dir], d), 2, argv.join(" "));
      assert.match(err.text, message);
    }
  } finally {
    removeDir(dir);
  }
});

test("a command against a daemon that is not running exits 1 with a clear message", async () => {
  const dir = tempDir();
  try {
    const { d, err } = deps();
    assert.is(await runCli(["cluster", "list", "--state-dir", dir], d), 1);
    assert.match(err.text, /Cannot reach the cohort daemon/);
  } finally {
    removeDir(dir);
  }
});

test("cluster list rejects an unknown format", async () => {
  const { d, err } = deps();
  assert.is(await runCli(["cluster", "list", "-f", "xml"], d), 2);
  assert.match(err.text, /--format must be one of table, json, yaml, got "xml"/);
});

test("waitready rejects a negative timeout", async () => {
  const { d, err } = deps();
  assert.is(await runCli(["waitready", "--timeout=-1"], d), 2);
  assert.match(err.text, /--timeout must be 0 \(wait forever\) or a number of seconds from/);
});

test("daemon passes its flags to startDaemon", async () => {
  const started: DaemonCommandOptions[] = [];
  const { d } = deps(started);
  const code = await runCli([
    "daemon",
    "--state-dir",
    "/tmp/x",
    "--extensions",
    "a, b",
    "--app-version",
    "3",
    "--metrics-address",
    "9100",
  ], d);
  assert.is(code, 0);
  assert.equal(started, [{
    gossipPreset: "lan",
    upgradePolicy: "strict",
    upgradeDeadGraceMs: 0,
    stateDir: "/tmp/x",
    extensions: ["a", "b"],
    appMigrations: undefined,
    appVersion: "3",
    databaseUrl: undefined,
    metricsAddress: "9100",
  }]);
});

test("daemon exits 1 when its stop could not store what it had to, 0 after a clean one", async () => {
  const closedWith = (closed: Promise<unknown>): CliDeps => ({
    ...deps().d,
    startDaemon: () =>
      Promise.resolve({
        closed: closed as Promise<StopOutcome | void>,
        stop: () => Promise.resolve(),
      }),
  });
  const unstored = { stored: false, problem: "no space left on the disk" };
  assert.is(await runCli(["daemon"], closedWith(Promise.resolve(unstored))), 1);
  assert.is(await runCli(["daemon"], closedWith(Promise.resolve({ stored: true }))), 0);
  // An app's own daemon that resolves `closed` to nothing, as before: a clean stop.
  assert.is(await runCli(["daemon"], closedWith(Promise.resolve())), 0);
});

test("daemon with a bad --metrics-address is a usage error and starts nothing", async () => {
  const started: DaemonCommandOptions[] = [];
  const { d, err } = deps(started);
  assert.is(await runCli(["daemon", "--metrics-address", "1.2.3.4:99999"], d), 2);
  assert.match(
    err.text,
    /--metrics-address: Invalid metrics address "1\.2\.3\.4:99999": port must/,
  );
  assert.equal(started, []);
});

test("daemon with an empty extension entry is a usage error", async () => {
  const { d, err } = deps();
  assert.is(await runCli(["daemon", "--extensions", "a,,b"], d), 2);
  assert.match(err.text, /--extensions has an empty entry/);
});

test("daemon with an invalid extension name exits 2 with the daemon's message", async () => {
  const { d, err } = deps([], new InvalidInputError('Invalid extensions.0 "A": must match'));
  assert.is(await runCli(["daemon", "--extensions", "A"], d), 2);
  assert.match(err.text, /Invalid extensions.0 "A"/);
});

test("daemon rejects an invalid --app-version before starting (exit 2)", async () => {
  for (
    const [value, message] of [
      ["", /--app-version must be 1 to 64 printable ASCII characters without spaces: it is empty/],
      ["v".repeat(65), /--app-version must be .*: it has 65 characters/],
      ["1.0 beta", /--app-version must be .*: it contains a space/],
    ] as const
  ) {
    const started: DaemonCommandOptions[] = [];
    const { d, err } = deps(started);
    assert.is(await runCli(["daemon", `--app-version=${value}`], d), 2, value);
    assert.match(err.text, message);
    assert.equal(started, [], "no daemon was started");
  }
  const started: DaemonCommandOptions[] = [];
  const { d } = deps(started);
  assert.is(await runCli(["daemon", "--app-version", "v".repeat(64)], d), 0);
  assert.is(started[0].appVersion, "v".repeat(64));
});

test("app-version checks VERSION before calling the daemon (exit 2)", async () => {
  const dir = tempDir();
  try {
    const cases: [string[], RegExp][] = [
      [["app-version"], /Missing argument: VERSION/],
      [["app-version", "1", "2"], /Unexpected argument: "2"/],
      [["app-version", "x".repeat(1000)], /Invalid VERSION: must be 1 to 64 .*: it has 1000 char/],
      [["app-version", "2.0 final"], /Invalid VERSION: .*it contains a space/],
      [["app-version", "2.0.0\u0007"], /Invalid VERSION: .*a control or a non-ASCII character/],
    ];
    for (const [argv, message] of cases) {
      const { d, err } = deps();
      assert.is(await runCli([...argv, "--state-dir", dir], d), 2, argv.join(" "));
      assert.match(err.text, message);
      assert.match(err.text, /Usage: cohort app-version VERSION/);
      assert.not.match(err.text, "xxxxxxxxxx", "the value is never echoed");
    }
    // A valid value goes to the daemon: none runs here.
    const { d, err } = deps();
    assert.is(await runCli(["app-version", "2.0.0", "--state-dir", dir], d), 1);
    assert.match(err.text, /Cannot reach the cohort daemon/);
  } finally {
    removeDir(dir);
  }
});

test.run();
