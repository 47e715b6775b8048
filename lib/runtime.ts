/**
 * The one place that knows which JavaScript runtime cohort runs on.
 *
 * Everything else uses `node:` built-ins that behave the same in Node and Deno; only what truly
 * differs (how to tell the runtimes apart, how to relaunch ourselves, how to detect the main
 * module) lives here.
 *
 * @module
 */
import process from "node:process";
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";

/** The runtime cohort is running on. */
export type RuntimeName = "node" | "deno";

// `process.release.name` is "node" inside Deno too, so only the Deno global is a reliable tell.
const denoGlobal = (globalThis as { Deno?: { version?: { deno?: string } } }).Deno;

/** `true` when running under Deno (2.x), `false` under Node. */
export const isDeno: boolean = denoGlobal !== undefined;

/** The name of the current runtime. */
export const runtimeName: RuntimeName = isDeno ? "deno" : "node";

/** A human-readable runtime and version, for logs and `GET /core/1.0` diagnostics. */
export const runtimeVersion: string = isDeno
  ? `deno ${denoGlobal?.version?.deno ?? "unknown"}`
  : `node ${process.versions.node}`;

/**
 * Reports whether the module with the given `import.meta` is the program's entry point.
 *
 * Deno sets `import.meta.main`; Node 20 does not, so there the module URL is compared with the
 * script named on the command line, after resolving symbolic links as Node does for the main
 * module: an installed command (`node_modules/.bin/cohort`, `PREFIX/bin/cohort`) is a link to
 * the module.
 */
export function isMainModule(meta: { url: string; main?: boolean }): boolean {
  if (typeof meta.main === "boolean") return meta.main;
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

/**
 * The command (executable and leading arguments) that starts a new process running the given
 * entry module with the current runtime: `deno run -A <file>` or `node <file>`.
 *
 * Used to start daemons from the CLI and from tests without caring which runtime is in use.
 */
export function selfCommand(entryFile: string): { command: string; args: string[] } {
  if (isDeno) return { command: process.execPath, args: ["run", "-A", entryFile] };
  return { command: process.execPath, args: [entryFile] };
}

/**
 * The command that runs a module of cohort itself (not an app entry point) in a child process
 * with the current runtime: `deno run -A <file>`, or `node <loader flags> <file>` keeping the
 * parent's module loader flags (`--import`, `--require`, `--loader`: a TypeScript loader in
 * development) but never its inspector flags, whose port would clash.
 */
export function moduleCommand(file: string): { command: string; args: string[] } {
  if (isDeno) return { command: process.execPath, args: ["run", "-A", file] };
  const inherited: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--import" || a === "--require" || a === "-r" || a === "--loader") {
      if (i + 1 < argv.length) inherited.push(a, argv[++i]);
    } else if (/^--(import|require|loader|experimental-loader)=/.test(a)) inherited.push(a);
  }
  return { command: process.execPath, args: [...inherited, file] };
}
