/**
 * Which files a Node process loads: a loader hook (Node's `module.register`) that appends every
 * URL it loads, `node:` built-ins left out, to a file. Tests that check a process loads only
 * what it uses (the CLI, a store, metrics) run Node with {@link LoadRecorder.args} and read
 * {@link LoadRecorder.files} after it ends.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

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

/**
 * The source modules behind loaded files, as paths relative to `root` (`lib/daemon/daemon.ts`,
 * `node_modules/ws/lib/sender.js`): each file for itself and the modules its source map lists
 * (a bundle, `dist/mod.js` and its chunks, for every module in it; tsc's output for its source).
 * So a check that a process loads no command-line module holds whether the library is loaded as
 * tsc's files or as the bundle.
 */
export function loadedSources(urls: string[], root: string): string[] {
  const out: string[] = [];
  for (const url of urls) {
    if (!url.startsWith("file:")) continue;
    const file = fileURLToPath(url);
    const map = `${file}.map`;
    const sources: string[] | undefined = existsSync(map)
      ? JSON.parse(readFileSync(map, "utf8")).sources
      : undefined;
    out.push(relative(root, file));
    for (const s of sources ?? []) out.push(relative(root, resolve(dirname(file), s)));
  }
  return [...new Set(out)];
}
