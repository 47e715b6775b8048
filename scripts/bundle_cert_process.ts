/**
 * Bundles the certificate process (`lib/net/cert_process.ts`) with the X.509 library into one
 * file, `dist/lib/net/cert_process.js`, replacing tsc's output. Run by `npm run build`.
 *
 * Why: a member that starts uninitialised starts this child at once, and a join waits for it
 * when it is not ready yet. Loading the library as one file instead of some hundred modules
 * halves the child's start-up (measured on Node 20: ~240 ms to ~140 ms until its first key
 * pair, of which ~80 ms is Node's own boot). Deno runs the source as it is.
 *
 * tsc's source map of the file no longer describes the bundle, and a map of the bundle would ship
 * the library's sources: the map is removed, the bundle has none.
 */
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname ?? ".", "..");
const outfile = resolve(root, "dist/lib/net/cert_process.js");
await build({
  entryPoints: [resolve(root, "lib/net/cert_process.ts")],
  outfile,
  allowOverwrite: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  logLevel: "warning",
});
rmSync(`${outfile}.map`, { force: true });
