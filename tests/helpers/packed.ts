/**
 * Helpers for tests that play an app developer: cohort packed with `npm pack` (from the built
 * `dist/`, as `npm publish` would ship it) and installed with `npm install` into a fresh app
 * directory outside the repository.
 *
 * The tarball and the app are made once per test process and shared by the files that need
 * them; both are removed when the process exits.
 */
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
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
 * Runs `command args` in `cwd` to completion. `timeoutMs` kills it (SIGKILL) and fails the
 * run with exit code -1.
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
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 180_000);
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

const scratch: string[] = [];
process.on("exit", () => {
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

let packed: Promise<Tarball> | undefined;

/**
 * Packs the repository as `npm publish` would (from the `dist/` that `npm test` just built:
 * `--ignore-scripts` so the test does not rebuild it) into a temporary directory.
 */
export function packTarball(): Promise<Tarball> {
  packed ??= (async () => {
    if (!existsSync(join(ROOT, "dist", "mod.js"))) {
      throw new Error("dist/mod.js is missing: run `npm run build` first (npm test does)");
    }
    const out = scratchDir("cohort-pack-");
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
  })();
  return packed;
}

let app: Promise<string> | undefined;

/**
 * A fresh app directory (ES module package) with the packed cohort installed from its tarball
 * by `npm install`, as an app developer would, plus `@types/node` as a typical Node app has it.
 * Resolves to the app's directory.
 */
export function installedApp(): Promise<string> {
  app ??= (async () => {
    const tarball = await packTarball();
    const dir = scratchDir("cohort-app-");
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
      await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], {
        cwd: dir,
      }),
    );
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
