/**
 * Rolls cohort's public declarations up into one file, `dist/mod.d.ts`, with rollup-plugin-dts,
 * and removes tsc's per-module declarations. Run by `npm run build`, after tsc.
 *
 * Why: tsc's `mod.d.ts` imports every module whose types it re-exports, and those modules import
 * their dependencies' types (drizzle-orm's, libSQL's) for internal declarations no app sees. An
 * app's compiler reads all of them, and drizzle's declarations fail a strict app that does not
 * set `skipLibCheck`. The roll-up keeps only the declarations the public API reaches; the build
 * fails if they import anything but Node's built-in modules.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { rollup } from "rollup";
import { dts } from "rollup-plugin-dts";

const dist = resolve(import.meta.dirname ?? ".", "..", "dist");
const entry = join(dist, "mod.d.ts");
const bundle = await rollup({
  input: entry,
  plugins: [dts()],
  // Node's built-in modules stay imports (the app has @types/node); nothing else may.
  external: (id) => id.startsWith("node:"),
  onwarn(warning) {
    throw new Error(`rolling up the declarations: ${warning.message}`);
  },
});
const { output } = await bundle.generate({ format: "es" });
await bundle.close();
const [chunk] = output;
if (chunk.type !== "chunk") throw new Error("rollup produced no declaration chunk");

for (const file of readdirSync(dist, { recursive: true, encoding: "utf8" })) {
  if (file.endsWith(".d.ts")) rmSync(join(dist, file));
}
writeFileSync(entry, chunk.code);

const foreign = [...chunk.code.matchAll(/^import .* from '([^']+)';$/gm)]
  .map((m) => m[1])
  .filter((spec) => !spec.startsWith("node:"));
if (foreign.length) {
  console.error(`dist/mod.d.ts imports types from ${foreign.join(", ")}: keep them internal`);
  process.exit(1);
}
const lines = readFileSync(entry, "utf8").split("\n").length;
console.log(`wrote ${entry} (${lines} lines)`);
