/**
 * Copies the non-TypeScript files the runtime needs (Drizzle migrations, the status page's
 * files) into `dist/` at the same relative paths, since tsc only emits `.js`. Run by
 * `npm run build`.
 */
import { cpSync, existsSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname ?? ".", "..");
const ASSETS = ["lib/store/migrations", "lib/ui/assets"];
for (const rel of ASSETS) {
  const from = resolve(root, rel);
  if (!existsSync(from)) continue;
  cpSync(from, resolve(root, "dist", rel), { recursive: true });
}
