/**
 * The package as an app developer gets it: `npm pack`, then `npm install <tarball>` in a fresh
 * app (and `npm install -g`), then the `cohort` command and `import "cohort"` there.
 *
 * cohort-test: one runtime (npm, node and the installed command run in processes of their own,
 * the same whichever runtime drives this file).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { freePort, waitForSocket } from "../helpers/process.ts";
import {
  expectOk,
  installedApp,
  installedGlobally,
  packTarball,
  ROOT,
  run,
  scratchDir,
} from "../helpers/packed.ts";

const test = suite("packed tarball");
const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;

test("the tarball ships the LICENSE (Apache-2.0 in full), the README and only built files", async () => {
  const { files } = await packTarball();
  const paths = files.map((f) => f.path);
  for (const needed of ["LICENSE", "README.md", "package.json", "dist/mod.js", "dist/mod.d.ts"]) {
    assert.ok(paths.includes(needed), `${needed} is packed`);
  }
  for (const path of paths) {
    assert.ok(
      ["LICENSE", "README.md", "package.json"].includes(path) || path.startsWith("dist/"),
      `${path} is not a built file`,
    );
    assert.not.ok(/\.ts$/.test(path) && !/\.d\.ts$/.test(path), `${path}: no TypeScript source`);
  }
  const license = readFileSync(join(ROOT, "LICENSE"), "utf8");
  assert.match(license, /Apache License\s+Version 2\.0, January 2004/);
  assert.match(license, /TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/);
  assert.match(license, /9\. Accepting Warranty or Additional Liability\./);
  assert.match(license, /END OF TERMS AND CONDITIONS/);
});

test("every shipped source map carries its sources, and every map belongs to a shipped file", async () => {
  const dir = await installedApp();
  const pkg = join(dir, "node_modules", "cohort");
  const { files } = await packTarball();
  const maps = files.map((f) => f.path).filter((p) => p.endsWith(".map"));
  assert.ok(maps.length > 0, "source maps are shipped");
  for (const path of maps) {
    const map = JSON.parse(readFileSync(join(pkg, path), "utf8")) as {
      sources: string[];
      sourcesContent?: (string | null)[];
    };
    assert.is(map.sourcesContent?.length, map.sources.length, `${path}: sourcesContent`);
    for (const content of map.sourcesContent ?? []) {
      assert.type(content, "string", `${path}: a source is missing`);
    }
    const generated = path.slice(0, -".map".length);
    assert.ok(existsSync(join(pkg, generated)), `${path}: ${generated} is shipped`);
    const tail = readFileSync(join(pkg, generated), "utf8").trimEnd().split("\n").pop();
    assert.is(
      tail,
      `//# sourceMappingURL=${generated.split("/").pop()}.map`,
      `${generated} points at its map`,
    );
  }
});

test("the packed package.json asks an installing app to run no scripts", async () => {
  const dir = await installedApp();
  const manifest = JSON.parse(
    readFileSync(join(dir, "node_modules", "cohort", "package.json"), "utf8"),
  );
  for (const script of ["preinstall", "install", "postinstall", "prepare"]) {
    assert.is(manifest.scripts?.[script], undefined, `no "${script}" script`);
  }
});

test("dist/mod.js starts with a node shebang and stays importable without running the CLI", async () => {
  const dir = await installedApp();
  const main = readFileSync(join(dir, "node_modules", "cohort", "dist", "mod.js"), "utf8");
  assert.is(main.split("\n")[0], "#!/usr/bin/env node");
  const imported = await run("node", [
    "--input-type=module",
    "-e",
    `const m = await import("cohort"); console.log(typeof m.createMember, typeof m.runCli);`,
  ], { cwd: dir });
  assert.is(imported.stderr, "");
  assert.is(imported.stdout, "function function\n");
  assert.is(imported.code, 0);
});

test("npx cohort --version and -V print the package version", async () => {
  const dir = await installedApp();
  for (const flag of ["--version", "-V"]) {
    const result = await run("npx", ["--no-install", "cohort", flag], { cwd: dir });
    assert.is(result.stderr, "", flag);
    assert.is(result.stdout, `${version}\n`, flag);
    assert.is(result.code, 0, flag);
  }
});

test("npx cohort GROUP --help lists the group's commands", async () => {
  const dir = await installedApp();
  const result = await run("npx", ["--no-install", "cohort", "cluster", "--help"], { cwd: dir });
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stdout, "Usage: cohort cluster COMMAND");
  assert.match(result.stdout, /cluster list\s+List the cluster's members/);
  assert.match(result.stdout, /cluster remove\s+/);
});

test("the installed cohort command runs a member: daemon, init, cluster list, shutdown", async () => {
  const dir = await installedApp();
  const state = scratchDir("cohort-bin-state-");
  const port = await freePort();
  // The bin itself, as npx runs it: through the shebang, no `node` in front.
  const daemon = spawn(join(dir, "node_modules", ".bin", "cohort"), [
    "daemon",
    "--state-dir",
    state,
    "--extensions",
    "app_feature",
  ], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  let logs = "";
  daemon.stderr!.on("data", (d) => (logs += d));
  const exited = new Promise<number>((done) => daemon.on("close", (code) => done(code ?? -1)));
  try {
    await waitForSocket(state, { child: daemon, logs: () => logs, exited });
    // The installed bin again, not through npx (whose resolution of it the tests above check):
    // npm's own start-up took 0.4 s of CPU per command.
    const cohort = (args: string[]) =>
      run(join(dir, "node_modules", ".bin", "cohort"), [...args, "--state-dir", state], {
        cwd: dir,
      });
    expectOk("init", await cohort(["init", "c1", `127.0.0.1:${port}`, "--bootstrap"]));
    const list = expectOk("cluster list", await cohort(["cluster", "list", "-f", "json"]));
    const members = JSON.parse(list.stdout);
    assert.is(members.length, 1);
    assert.is(members[0].name, "c1");
    assert.equal(members[0].extensions.slice(-1), ["app_feature"]);
    expectOk("shutdown", await cohort(["shutdown"]));
    assert.is(await exited, 0, logs);
  } finally {
    if (daemon.exitCode === null) process.kill(daemon.pid!, "SIGKILL");
    await exited;
  }
});

test("npm install -g: the global cohort command runs", async () => {
  const prefix = await installedGlobally();
  const bin = join(prefix, "bin", "cohort");
  const result = await run(bin, ["--version"]);
  assert.is(result.stderr, "");
  assert.is(result.stdout, `${version}\n`);
  const help = await run(bin, ["tokens", "--help"]);
  assert.is(help.code, 0, help.stderr);
  assert.match(help.stdout, /tokens add\s+/);
});

test.run();
