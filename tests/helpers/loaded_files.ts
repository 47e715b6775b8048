/**
 * Which files a Node process loads: a loader hook (Node's `module.register`) that appends every
 * URL it loads, `node:` built-ins left out, to a file. Tests that check a process loads only
 * what it uses (the CLI, a store, metrics) run Node with {@link LoadRecorder.args} and read
 * {@link LoadRecorder.files} after it ends.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** A loader hook written into a directory, and what the processes run with it loaded. */
export interface LoadRecorder {
  /** Node's arguments that install the hook (put them before the script). */
  readonly args: string[];
  /** The URLs loaded so far by every process run with {@link args}, in load order. */
  files(): string[];
  /** Forgets what was recorded (the next process starts a new list). */
  reset(): void;
}

/**
 * Writes the hook into `dir` (a scratch directory the caller removes) under names starting with
 * `name`, so several recorders can share a directory.
 */
export function loadRecorder(dir: string, name = "loaded"): LoadRecorder {
  const out = join(dir, `${name}.txt`);
  const hooks = join(dir, `${name}-hooks.mjs`);
  const register = join(dir, `${name}-register.mjs`);
  writeFileSync(out, "");
  writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  if (!url.startsWith("node:")) appendFileSync(${JSON.stringify(out)}, url + "\\n");
  return next(url, context);
}`,
  );
  writeFileSync(
    register,
    `import { register } from "node:module";
register(${JSON.stringify(pathToFileURL(hooks).href)});`,
  );
  return {
    args: ["--import", pathToFileURL(register).href],
    files: () => readFileSync(out, "utf8").split("\n").filter(Boolean),
    reset: () => writeFileSync(out, ""),
  };
}
