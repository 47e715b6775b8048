/**
 * Bundles the library's entry point, `dist/mod.js` (what `cohort daemon`, `node dist/mod.js
 * daemon` and an app's `import "cohort"` load), with the pure-JavaScript libraries it uses
 * (Drizzle, ws, itty-router, superstruct, prom-client, libSQL's local client), replacing tsc's
 * output. Run by `npm run build`, after tsc (whose per-module files stay for the files started
 * or served by path: the certificate and SQL processes, the status page's server, the
 * migrations).
 *
 * Why (issue 15, memory): as some 300 ES modules, an idle member held each module's record, its
 * source text (two bytes a character in the modules whose comments have a non-Latin-1 character)
 * and the comments in it, and its start-up read and compiled them file by file on Node's worker
 * and compiler threads, whose malloc arenas then stay resident. One file of code without comments
 * (whitespace and syntax minified, names kept for stack traces; a linked source map) cut an idle
 * member's VmRSS by 8-9 MB at N=13 (`scripts/bench/member_memory.ts`, before/after variants).
 *
 * prom-client is bundled as the parts of it cohort uses (its index loads all of them), in the
 * chunk loaded when metrics are on (`tests/metrics/lazy.test.ts`). Kept out of the bundle and
 * loaded from `node_modules`: libSQL's native module (required, so that Node needs no CommonJS
 * lexer), its remote clients (loaded for a database URL that is not a file) and the X.509
 * library (loaded only when a certificate is made). What is loaded on demand stays so: each
 * dynamic `import()` is a chunk of its own beside `mod.js` (`dist/mod-NAME-HASH.js`). Deno runs
 * `mod.ts` as it is. The bundled packages' licences are in `dist/mod.LICENSES.txt`.
 */
import { build } from "esbuild";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import process from "node:process";

const root = resolve(import.meta.dirname ?? ".", "..");
const dist = resolve(root, "dist");

/** Packages loaded from `node_modules` at run time, not bundled. */
export const EXTERNAL = [
  // libSQL's remote clients, loaded on demand for a database URL that is not a file.
  "@libsql/client",
  // libSQL's native module and its loader (required: see "libsql-required" below).
  "libsql",
  "@peculiar/x509",
  "reflect-metadata",
  // ws's optional native helpers: it requires them in a try and does without.
  "bufferutil",
  "utf-8-validate",
];

/** The parts of prom-client cohort uses, by export name: the file of it that exports them. */
const PROM_CLIENT_PARTS: Record<string, string> = {
  Registry: "registry",
  Counter: "counter",
  Gauge: "gauge",
  Histogram: "histogram",
  collectDefaultMetrics: "defaultMetrics",
};

for (const old of readdirSync(dist).filter((f) => /^mod-.*\.js(\.map)?$/.test(f))) {
  rmSync(join(dist, old));
}
const result = await build({
  entryPoints: { mod: resolve(root, "mod.ts") },
  outdir: dist,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  chunkNames: "mod-[name]-[hash]",
  platform: "node",
  format: "esm",
  target: "node20",
  // A package named here is external with all its paths: libSQL's local client
  // (`@libsql/client/sqlite3`, for a store in a file) is bundled, and its index kept out below.
  external: EXTERNAL.filter((p) => p !== "@libsql/client").flatMap((p) => [p, `${p}/*`]),
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: "none",
  sourcemap: "linked",
  metafile: true,
  // The bundled CommonJS libraries (ws, superstruct) require Node's built-ins.
  banner: {
    js: `import { createRequire as __cohortRequire } from "node:module";
const require = __cohortRequire(import.meta.url);`,
  },
  plugins: [{
    name: "libsql-remote-clients-external",
    setup(b) {
      b.onResolve({ filter: /^@libsql\/client$/ }, (args) => ({ path: args.path, external: true }));
    },
  }, {
    // libSQL's native module is CommonJS: imported from an ES module, Node would load its
    // CommonJS lexer (0.17 MB of V8 heap) to list its exports. Required, it needs none.
    name: "libsql-required",
    setup(b) {
      b.onResolve(
        { filter: /^libsql$/ },
        (args) =>
          args.namespace === "required"
            ? { path: "libsql", external: true }
            : { path: "libsql", namespace: "required" },
      );
      b.onLoad({ filter: /.*/, namespace: "required" }, () => ({
        contents: `module.exports = require("libsql");`,
        loader: "js",
      }));
    },
  }, {
    // prom-client's index loads every part of it (the summary's t-digest, the push gateway with
    // node:http, node:https and node:zlib, the cluster aggregator): cohort's imports of it are
    // given the parts they name, from its own files. A name not listed fails the build.
    name: "prom-client-parts",
    setup(b) {
      b.onResolve({ filter: /^prom-client$/ }, () => ({ path: "prom-client", namespace: "parts" }));
      b.onLoad({ filter: /.*/, namespace: "parts" }, () => ({
        contents: Object.entries(PROM_CLIENT_PARTS).map(([name, file]) =>
          `export { default as ${name} } from "prom-client/lib/${file}.js";`
        ).join("\n"),
        resolveDir: root,
        loader: "js",
      }));
    },
  }, {
    // A package's own source map points at sources it does not ship (superstruct's src/*.ts):
    // the bundle's map carries the package's files as they are in node_modules.
    name: "packages-as-shipped",
    setup(b) {
      b.onLoad({ filter: /\/node_modules\/.*\.[cm]?js$/ }, (args) => ({
        contents: readFileSync(args.path, "utf8").replace(/^\/\/# sourceMappingURL=.*$/gm, ""),
        loader: "js",
      }));
    },
  }, {
    // A module that finds files beside itself (`new URL("./migrations", import.meta.url)`) is
    // given its own URL in `dist/`, where tsc's output and the copied assets are.
    name: "own-import-meta-url",
    setup(b) {
      b.onLoad({ filter: /\/(lib|routes|gossip)\/.*\.ts$/ }, (args) => {
        const text = readFileSync(args.path, "utf8");
        if (!text.includes("import.meta.url")) return undefined;
        const own = "./" + relative(root, args.path).replace(/\.ts$/, ".js");
        return {
          contents: text.replaceAll(
            "import.meta.url",
            `new URL(${JSON.stringify(own)}, import.meta.url).href`,
          ),
          loader: "ts",
        };
      });
    },
  }],
  logLevel: "warning",
});

// Every output must sit in dist/ itself: the URLs given above are relative to it.
const outputs = Object.keys(result.metafile.outputs);
const astray = outputs.filter((o) => resolve(root, o).replace(/\/[^/]+$/, "") !== dist);
if (astray.length) {
  console.error(`bundle_mod: outputs outside dist/: ${astray.join(", ")}`);
  process.exit(1);
}
// No external package may be bundled by mistake (a deep import the list above does not match),
// nor libSQL's remote clients.
const bundled = Object.keys(result.metafile.inputs).filter((i) =>
  EXTERNAL.some((p) => i.includes(`node_modules/${p}/`)) &&
    !i.endsWith("node_modules/@libsql/client/lib-esm/sqlite3.js") ||
  /node_modules\/@libsql\/(hrana-client|isomorphic)/.test(i)
);
if (bundled.length) {
  console.error(`bundle_mod: bundled what must stay external: ${bundled.join(", ")}`);
  process.exit(1);
}

// The bundled packages' licences travel with their code.
const packages = new Map<string, string>();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
  if (m) packages.set(m[2], resolve(root, m[1]));
}
const notices = [...packages].sort().map(([name, dir]) => {
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  const text = file ? readFileSync(join(dir, file), "utf8").trim() : `License: ${manifest.license}`;
  return `${name}@${manifest.version} (${manifest.license})\n\n${text}\n`;
});
writeFileSync(
  join(dist, "mod.LICENSES.txt"),
  "dist/mod.js and its chunks (dist/mod-*.js) include these packages:\n\n" +
    notices.join("\n---\n\n"),
);
