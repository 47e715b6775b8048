/**
 * Bundles the `cohort` command (`package.json`'s `bin`) into one CommonJS file, `dist/cli.cjs`.
 * Run by `npm run build`.
 *
 * Why: a command that only talks to a running daemon (`cohort cluster list`, `cohort init
 * --token`) must start in well under 100 ms. `dist/mod.js` is the library's entry point: run as
 * a program it is the same command line, but importing it loads the whole library first (the
 * router, its request structs and OpenAPI document, the certificate issuer: some 50 modules,
 * ~110 ms on Node 20 before a command runs). The bundle holds the command line alone, as one
 * file; only `cohort daemon` loads the library, from `dist/mod.js`, when it starts a member.
 * Deno runs `mod.ts` as it is.
 *
 * Why CommonJS: on Node 20 an ES module entry costs some 10 ms of CPU more than the same code
 * as CommonJS (measured on this machine: 96 vs 86 ms for the bundle's built-in imports alone).
 * Node then starts its ES module loader, and each `import … from "node:…"` builds a facade that
 * reads every export of the built-in at once: `node:process`'s facade opens standard input (a
 * stream and its handle) and `node:fs`'s loads `fs/promises` and, through it, readline. A
 * `require` reads nothing it is not asked for. The library (`dist/mod.js`) stays an ES module:
 * `cohort daemon` and `cohort ui` import it, and the status page's server, dynamically.
 */
import { build } from "esbuild";
import { chmodSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname ?? ".", "..");
const outfile = resolve(root, "dist/cli.cjs");
// The entry: the CLI, with `cohort daemon` starting a member through the library's public
// `createMember` (the command's options are a subset of its options, by the same names).
const entry = `
import process from "node:process";
import { runCli } from "./lib/cli/main.ts";
import { flushLogs } from "./lib/log_sink.ts";

runCli(process.argv.slice(2), {
  startDaemon: async (options) => (await import("./mod.js")).createMember(options),
  stdout: process.stdout,
  stderr: process.stderr,
}).then(async (code) => {
  // Exit explicitly: an idle keep-alive socket must not hold a finished command open. The log
  // lines still on their way to stderr (a daemon's) go first.
  await flushLogs();
  process.exit(code);
});
`;
await build({
  stdin: { contents: entry, resolveDir: root, sourcefile: "cli.ts", loader: "ts" },
  outfile,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["./mod.js"],
  plugins: [{
    // The status page's server finds its files beside its own module: it stays in dist/lib.
    name: "ui-server-beside-its-assets",
    setup(b) {
      b.onResolve({ filter: /\/ui\/server\.ts$/ }, () => ({
        path: "./lib/ui/server.js",
        external: true,
      }));
    },
  }],
  banner: { js: "#!/usr/bin/env node" },
  logLevel: "warning",
});
chmodSync(outfile, 0o755);
