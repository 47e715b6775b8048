/**
 * Fails when the dependency direction is broken or an import cycle appears.
 *
 * Rules: `lib/` never imports `routes/` or `gossip/`; `routes/` and `gossip/` never import each
 * other; nothing but `mod.ts` and `scripts/`/`tests/` imports `mod.ts`; no module graph cycles;
 * a synchronous disk sync (`fsyncSync`, `fdatasyncSync`) appears only in `lib/files.ts`, whose
 * synchronous implementation serves simulations: a member's event loop never waits for the disk
 * (a stalled one held a joiner's answers and deadline for 40 s).
 *
 * Usage: `tsx scripts/check_imports.ts` (or `deno run -A`). Exit 1 and one line per problem.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";

const root = resolve(import.meta.dirname ?? ".", "..");
const SOURCE_DIRS = ["lib", "routes", "gossip"];

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith(".ts")) out.push(path);
  }
}

const files = [join(root, "mod.ts")];
for (const d of SOURCE_DIRS) {
  try {
    walk(join(root, d), files);
  } catch { /* folder may not exist yet */ }
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(?\s*["']([^"']+)["']/g;
const SYNC_ON_LOOP = /\b(?:fsyncSync|fdatasyncSync)\b/;
const SYNC_ALLOWED = "lib/files.ts";
const graph = new Map<string, string[]>();
const problems: string[] = [];
const top = (f: string) => relative(root, f).split("/")[0];

for (const file of files) {
  const text = readFileSync(file, "utf8");
  const deps: string[] = [];
  if (SYNC_ON_LOOP.test(text) && relative(root, file) !== SYNC_ALLOWED) {
    problems.push(
      `${relative(root, file)}: syncs the disk on the event loop (use files().sync from ` +
        `${SYNC_ALLOWED})`,
    );
  }
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith(".")) continue;
    const target = resolve(dirname(file), spec);
    deps.push(target);
    const from = top(file);
    const to = top(target);
    const rel = relative(root, file);
    if (from === "lib" && (to === "routes" || to === "gossip" || to === "mod.ts")) {
      problems.push(`${rel}: lib/ must not import ${relative(root, target)}`);
    }
    if ((from === "routes" && to === "gossip") || (from === "gossip" && to === "routes")) {
      problems.push(`${rel}: ${from}/ must not import ${relative(root, target)}`);
    }
    if (from !== "mod.ts" && to === "mod.ts") {
      problems.push(`${rel}: only entry points may import mod.ts`);
    }
  }
  graph.set(file, deps);
}

// Depth-first search with colours; report each cycle once by its members.
const colour = new Map<string, 1 | 2>();
const stack: string[] = [];
const seenCycles = new Set<string>();
function visit(node: string): void {
  colour.set(node, 1);
  stack.push(node);
  for (const dep of graph.get(node) ?? []) {
    const c = colour.get(dep);
    if (c === 1) {
      const cycle = stack.slice(stack.indexOf(dep)).map((f) => relative(root, f));
      const key = [...cycle].sort().join(",");
      if (!seenCycles.has(key)) {
        seenCycles.add(key);
        problems.push(`import cycle: ${[...cycle, relative(root, dep)].join(" -> ")}`);
      }
    } else if (c === undefined && graph.has(dep)) visit(dep);
  }
  stack.pop();
  colour.set(node, 2);
}
for (const f of graph.keys()) if (!colour.has(f)) visit(f);

if (problems.length) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log(
  `imports ok: ${graph.size} modules, no forbidden edges, no cycles, no disk sync on the loop`,
);
