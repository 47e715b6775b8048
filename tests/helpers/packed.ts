/**
 * Helpers for tests that play an app developer: cohort packed with `npm pack` (from the built
 * `dist/`, as `npm publish` would ship it) and installed with `npm install` into a fresh app
 * directory outside the repository.
 *
 * The tarball and the app are made once per test process and shared by the files that need
 * them; both are removed when the process exits. Under the test runner (`npm test`), which names
 * a folder of its own in `COHORT_TEST_SHARED` (removed when the run ends), they are made once per
 * run instead: the first test process to need the tarball packs it there and the others wait for
 * it, and each app is a copy of one installed there, so a run packs once and installs once
 * rather than once per file (`npm install` alone takes 20-30 s on a loaded machine).
 */
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";

/** The repository's root. */
export const ROOT: string = resolve(import.meta.dirname ?? ".", "../..");

/** What `npm pack --json` says about one packed file. */
export interface PackedFile {
  path: string;
  size: number;
  mode: number;
}

/** A packed tarball: its path and `npm pack --json`'s description of it. */
export interface Tarball {
  /** Absolute path of the `.tgz`. */
  file: string;
  /** Compressed size in bytes. */
  size: number;
  /** Unpacked size in bytes. */
  unpackedSize: number;
  /** Every file in the package, paths relative to the package root. */
  files: PackedFile[];
  /** The package version. */
  version: string;
}

/** The result of a finished command. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command args` in `cwd` to completion. `timeoutMs` (default 180 000) kills it (SIGKILL)
 * and fails the run with exit code -1.
 */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): Promise<Run> {
  return new Promise((done, fail) => {
    // NO_COLOR alone: Node warns on stderr when FORCE_COLOR is set too.
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
    delete env.FORCE_COLOR;
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timeoutMs = options.timeoutMs ?? 180_000;
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code: code ?? -1, stdout, stderr });
    });
    child.stdin!.end(options.input ?? "");
  });
}

/** Fails with the command's output when it did not exit 0. */
export function expectOk(what: string, result: Run): Run {
  if (result.code !== 0) {
    throw new Error(`${what} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/** The test run's folder for what its test processes share (see the module docs), if any. */
const SHARED = process.env.COHORT_TEST_SHARED;

const scratch: string[] = [];
process.on("exit", () => {
  // Under the runner, each scratch directory is in the file's own TMPDIR, which the runner
  // removes once the file ended without holding up the next: removing them here (seconds for
  // an installed app on a loaded machine) would only keep this file running.
  if (SHARED) return;
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A temporary directory outside the repository, removed when the process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

/**
 * A copy of the repository's working tree in a scratch directory, as a developer's checkout
 * would be after `npm ci`: every file but `node_modules/` (linked to the repository's),
 * `dist/`, `.git/` and `.tmp/`. A test that runs an npm script which rebuilds `dist/` runs it
 * there, so that the files running beside it keep loading an intact `dist/`.
 */
export function checkoutCopy(): string {
  const dir = scratchDir("cohort-checkout-");
  for (const name of readdirSync(ROOT)) {
    if (["node_modules", "dist", ".git", ".tmp"].includes(name)) continue;
    cpSync(join(ROOT, name), join(dir, name), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

/** Whether process `pid` is still running (its `/proc` entry: the same under Node and Deno). */
function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/**
 * The folder `name` of the run's shared folder, made by `make` (given an empty folder to fill)
 * in exactly one test process: the first to ask takes a lock (a folder holding its PID) and
 * renames the folder it filled into place; the others wait for that. A maker that failed gives
 * the lock back, and one that died (its file killed) is seen by its PID: either way the next
 * process to ask makes it instead.
 */
async function sharedFolder(name: string, make: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(SHARED!, name);
  const lock = `${dir}.lock`;
  while (!existsSync(dir)) {
    let mine = false;
    try {
      mkdirSync(lock);
      mine = true;
    } catch { /* another process makes it */ }
    if (mine) {
      writeFileSync(join(lock, "pid"), String(process.pid));
      const work = `${dir}.${process.pid}`;
      try {
        rmSync(work, { recursive: true, force: true });
        mkdirSync(work);
        await make(work);
        renameSync(work, dir);
      } catch (err) {
        rmSync(work, { recursive: true, force: true });
        throw err;
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
      break;
    }
    await sleep(100);
    let holder = NaN;
    try {
      holder = Number(readFileSync(join(lock, "pid"), "utf8"));
    } catch { /* not written yet, or given back */ }
    if (Number.isInteger(holder) && holder > 0 && !alive(holder) && !existsSync(dir)) {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  return dir;
}

/** `npm pack` of the repository into `out`; what it says of the tarball. */
async function pack(out: string): Promise<Tarball> {
  if (!existsSync(join(ROOT, "dist", "mod.js"))) {
    throw new Error("dist/mod.js is missing: run `npm run build` first (npm test does)");
  }
  const result = expectOk(
    "npm pack",
    await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", out]),
  );
  const [info] = JSON.parse(result.stdout) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: PackedFile[];
    version: string;
  }[];
  return {
    file: join(out, info.filename),
    size: info.size,
    unpackedSize: info.unpackedSize,
    files: info.files,
    version: info.version,
  };
}

let packed: Promise<Tarball> | undefined;

/**
 * Packs the repository as `npm publish` would (from the `dist/` that `npm test` just built:
 * `--ignore-scripts` so the test does not rebuild it) into a temporary directory (once per test
 * run under the runner: see the module docs).
 */
export function packTarball(): Promise<Tarball> {
  packed ??= SHARED
    ? sharedFolder("pack", async (dir) => {
      const tarball = await pack(dir);
      // Where the tarball will be once the folder is in place.
      tarball.file = join(SHARED, "pack", tarball.file.slice(dir.length + 1));
      writeFileSync(join(dir, "tarball.json"), JSON.stringify(tarball));
    }).then((dir) => JSON.parse(readFileSync(join(dir, "tarball.json"), "utf8")) as Tarball)
    : pack(scratchDir("cohort-pack-"));
  return packed;
}

let app: Promise<string> | undefined;

/** Writes the app's package.json into `dir` and installs it there with `npm install`. */
async function install(dir: string, tarball: Tarball): Promise<void> {
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify(
      {
        name: "cohort-test-app",
        version: "1.0.0",
        private: true,
        type: "module",
        dependencies: { cohort: `file:${tarball.file}` },
        devDependencies: { "@types/node": "^20.19.0" },
      },
      null,
      2,
    ),
  );
  expectOk(
    "npm install",
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: dir }),
  );
}

/**
 * A fresh app directory (ES module package) with the packed cohort installed from its tarball
 * by `npm install`, as an app developer would, plus `@types/node` as a typical Node app has it.
 * Resolves to the app's directory. Under the runner it is a copy (`cp -a`, links kept as they
 * are) of the one app the run installed: the test may write into its own.
 */
export function installedApp(): Promise<string> {
  app ??= (async () => {
    const tarball = await packTarball();
    const dir = scratchDir("cohort-app-");
    if (!SHARED) {
      await install(dir, tarball);
      return dir;
    }
    const installed = await sharedFolder("app", (work) => install(work, tarball));
    expectOk("cp -a of the installed app", await run("cp", ["-a", `${installed}/.`, dir]));
    return dir;
  })();
  return app;
}

/**
 * Installs the tarball globally (`npm install -g`) under a temporary prefix and resolves to
 * that prefix: the command is `PREFIX/bin/cohort`.
 */
export async function installedGlobally(): Promise<string> {
  const tarball = await packTarball();
  const prefix = scratchDir("cohort-global-");
  mkdirSync(join(prefix, "bin"), { recursive: true });
  expectOk(
    "npm install -g",
    await run("npm", [
      "install",
      "-g",
      "--prefix",
      prefix,
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      tarball.file,
    ]),
  );
  return prefix;
}
