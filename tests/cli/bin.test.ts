/**
 * The installed `cohort` command (`package.json`'s `bin`, `dist/cli.cjs`), as a user runs it:
 * a command that only talks to a running daemon loads the command line alone, never the library
 * (routes, gossip, the store's driver, any package), so it starts in a few tens of milliseconds;
 * `cohort daemon` still loads the library and runs a member, and `cohort ui` still finds its
 * page's files. The bin is a Node program: these tests run `node` under both runtimes.
 */
import { type ChildProcess, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  freePort,
  leashed,
  outcome,
  removeDir,
  spawnTracked,
  tempDir,
  waitForSocket,
} from "../helpers/process.ts";
import { loadedSources, loadRecorder } from "../helpers/loaded_files.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const BIN = join(root, "dist", "cli.cjs");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

interface Ctx {
  scratch: string;
  state: string;
  daemon?: ChildProcess;
  logs: string;
}
const test = suite<Ctx>("the cohort command (dist/cli.cjs)");

test.before((ctx) => {
  ctx.scratch = tempDir("cohort-bin-");
  ctx.state = join(ctx.scratch, "state");
  ctx.logs = "";
});

test.after(async (ctx) => {
  if (ctx.daemon && ctx.daemon.exitCode === null) {
    const exited = new Promise((r) => ctx.daemon!.once("close", r));
    ctx.daemon.kill("SIGKILL");
    await exited;
  }
  removeDir(ctx.scratch);
});

/** Runs `node [flags] dist/cli.cjs args` to completion. */
function bin(args: string[], flags: string[] = [], input = "") {
  const child = spawnTracked("node", leashed("node", [...flags, BIN, ...args]), {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const run = outcome(child);
  child.stdin!.end(input);
  return run;
}

/** The files (not `node:` built-ins) a `dist/cli.cjs` command loads, by a loader hook of Node's. */
async function loadedFiles(ctx: Ctx, args: string[]) {
  const recorder = loadRecorder(ctx.scratch, `loaded-${Date.now()}`);
  const result = await bin(args, recorder.args);
  const files = recorder.files().map((u) => u.replace(pathToFileURL(root).href + "/", ""));
  return { result, files };
}

test("package.json's bin is the bundled command line", () => {
  assert.is(pkg.bin.cohort, "dist/cli.cjs");
  assert.is(readFileSync(BIN, "utf8").split("\n")[0], "#!/usr/bin/env node");
});

test("a command that talks to the daemon loads dist/cli.cjs alone: no library, no package", async (ctx) => {
  const { result, files } = await loadedFiles(ctx, ["cluster", "list", "--state-dir", ctx.state]);
  assert.is(result.code, 1, result.stderr);
  assert.match(result.stderr, "Cannot reach the cohort daemon");
  assert.equal(files, ["dist/cli.cjs"]);
  const help = await loadedFiles(ctx, ["--help"]);
  assert.is(help.result.code, 0, help.result.stderr);
  assert.match(help.result.stdout, "cluster list");
  assert.equal(help.files, ["dist/cli.cjs"]);
});

/**
 * Node's own modules a `dist/cli.cjs` command loads (`process.moduleLoadList` at exit), run
 * without the test leash: the leash is an `--import`, which would start the ES module loader.
 */
function builtinsLoaded(ctx: Ctx, args: string[]) {
  const out = join(ctx.scratch, `builtins-${Date.now()}.json`);
  const preload = join(ctx.scratch, "builtins.cjs");
  writeFileSync(
    preload,
    `process.on("exit", () => require("node:fs").writeFileSync(${
      JSON.stringify(out)
    }, JSON.stringify(process.moduleLoadList)));`,
  );
  // A short command against a daemon that is not there: it exits at once, and the time limit
  // ends it should it not.
  const r = spawnSync("node", ["--require", preload, BIN, ...args], {
    input: "",
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stderr: r.stderr, loaded: JSON.parse(readFileSync(out, "utf8")) };
}

test("a command that talks to the daemon starts no ES module loader and no module it does not use", (ctx) => {
  for (const args of [["cluster", "list", "--state-dir", ctx.state], ["--help"]]) {
    const { code, stderr, loaded } = builtinsLoaded(ctx, args);
    assert.is(code, args[0] === "--help" ? 0 : 1, stderr);
    const names = (loaded as string[]).map((m) => m.replace(/^NativeModule /, ""));
    // An ES module entry would start Node's ES module loader, and its facade of `node:process`
    // would open standard input and that of `node:fs` load `fs/promises` (~10 ms of CPU).
    assert.equal(names.filter((m) => /^internal\/modules\/esm\/(loader|translators)$/.test(m)), []);
    assert.equal(names.filter((m) => m === "internal/fs/promises"), []);
    // Only `cohort daemon` needs `node:v8`, and no command needs `node:timers/promises`.
    assert.equal(names.filter((m) => m === "v8" || m === "timers/promises"), []);
  }
});

test("cohort daemon loads no second copy of the command line and no OpenAPI builder", async (ctx) => {
  // What an idle member holds (issue 15, memory): the bundle already is the command line, and
  // the API document is built only when asked for.
  const recorder = loadRecorder(ctx.scratch, "loaded-daemon");
  const state = join(ctx.scratch, "state-loads");
  const daemon = spawnTracked(
    "node",
    leashed("node", [...recorder.args, BIN, "daemon", "--state-dir", state]),
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let logs = "";
  daemon.stderr!.on("data", (d) => (logs += d));
  const exited = new Promise<number>((r) => daemon.once("close", (c) => r(c ?? -1)));
  try {
    await waitForSocket(state, { child: daemon, logs: () => logs, exited });
    // The control socket answers through the router: every module a request needs is loaded.
    const info = await bin(["cluster", "list", "--state-dir", state]);
    assert.match(info.stderr, /not yet initiali[sz]ed/i);
  } finally {
    daemon.kill("SIGTERM");
    await exited;
  }
  // The bundle's files stand for the modules their source maps list.
  const files = loadedSources(recorder.files(), root);
  assert.ok(files.includes("dist/mod.js"), "the bundled library");
  assert.ok(files.includes("lib/daemon/daemon.ts"), "the member ran");
  assert.ok(files.includes("routes/router.ts"), "its router answered");
  assert.equal(files.filter((f) => f.startsWith("lib/cli/")), []);
  assert.equal(files.filter((f) => f.startsWith("routes/openapi/")), []);
  // Nor a module of a package it does not use, nor tsc's per-module copy of the library beside
  // the bundle (a second copy of every class, and their memory); the recorder also hears the
  // certificate process, a child of its own started from its file.
  assert.equal(
    files.filter((f) => /^node_modules\/(drizzle-kit|@peculiar|@libsql\/hrana-client)\//.test(f)),
    [],
  );
  assert.equal(
    files.filter((f) => f.startsWith("dist/lib/") && f !== "dist/lib/net/cert_process.js"),
    [],
  );
});

test("cohort daemon loads the library and runs a member: init, list, init --token refused, ui, shutdown", async (ctx) => {
  const port = await freePort();
  ctx.daemon = spawnTracked("node", leashed("node", [BIN, "daemon", "--state-dir", ctx.state]), {
    stdio: ["ignore", "ignore", "pipe"],
  });
  ctx.daemon.stderr!.on("data", (d) => (ctx.logs += d));
  const exited = new Promise<number>((r) => ctx.daemon!.once("close", (c) => r(c ?? -1)));
  await waitForSocket(ctx.state, {
    child: ctx.daemon,
    logs: () => ctx.logs,
    exited,
  });
  const at = ["--state-dir", ctx.state];
  const init = await bin(["init", "b1", `127.0.0.1:${port}`, "--bootstrap", ...at]);
  assert.is(init.code, 0, init.stderr + ctx.logs);
  assert.match(init.stdout, `Bootstrapped cohort member "b1"`);
  const list = await bin(["cluster", "list", "-f", "json", ...at]);
  assert.is(list.code, 0, list.stderr);
  assert.equal(JSON.parse(list.stdout).map((m: { name: string }) => m.name), ["b1"]);
  // A join token on standard input, to a member that is already initialised: refused, exit 1.
  const again = await bin(["init", "b2", `127.0.0.1:${port}`, "--token", "-", ...at], [], "x");
  assert.is(again.code !== 0, true, again.stdout);
  // The status page's server is loaded only by `cohort ui`, from beside its files.
  const ui = spawnTracked("node", leashed("node", [BIN, "ui", "--listen", "127.0.0.1:0", ...at]), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    const url = await new Promise<string>((done, fail) => {
      let out = "";
      const timer = setTimeout(() => fail(new Error(`no URL printed: ${out}`)), 20_000);
      ui.stdout!.on("data", (d) => {
        out += d;
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) {
          clearTimeout(timer);
          done(m[1]);
        }
      });
      ui.once("close", (code) => fail(new Error(`cohort ui exited ${code}: ${out}`)));
    });
    const page = await fetch(url);
    assert.is(page.status, 200);
    assert.match(await page.text(), "<html");
  } finally {
    const closed = new Promise((r) => ui.once("close", r));
    ui.kill("SIGTERM");
    await closed;
  }
  const shutdown = await bin(["shutdown", ...at]);
  assert.is(shutdown.code, 0, shutdown.stderr);
  assert.is(await exited, 0, ctx.logs);
});

test.run();
