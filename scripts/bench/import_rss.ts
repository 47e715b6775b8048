/**
 * Benchmark: what each part of a member costs in resident memory before it does anything
 * (issue 15, "Memory": the gap to 60 MB explained). Each step runs in a fresh Node process that
 * loads everything the steps before it loaded and then its own part, so the difference between
 * two steps is that part's cost: the runtime, TLS, the web `Request`/`Response` classes (undici),
 * libSQL (its local client alone, then the remote clients beside it), an open database, Drizzle,
 * the Prometheus client with its default metrics (beside it, its parts alone), `ws`, the router
 * and validation libraries; then, each alone on bare Node, cohort as a member loads it: tsc's
 * modules with the libraries from `node_modules`, and the bundle (`dist/mod.js` and its chunks).
 *
 * Per step: VmRSS, RssAnon (the process's own pages) and RssFile (mapped code, shared by every
 * member on the host), after a full garbage collection, median of `--runs` processes.
 *
 * Usage: `npm run build && node --import tsx scripts/bench/import_rss.ts [--runs 3]
 *   [--node-flags "--max-semi-space-size=1"]`
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dirname ?? ".", "../..");
const { values: opts } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    "node-flags": { type: "string", default: "" },
  },
});
const RUNS = Math.max(1, Math.min(20, Number(opts.runs) || 3));
const FLAGS = opts["node-flags"].split(/\s+/).filter(Boolean);
const dist = (path: string) => JSON.stringify(pathToFileURL(join(root, "dist", path)).href);
const scratch = mkdtempSync(join(tmpdir(), "cohort-import-rss-"));
const db = JSON.stringify(`file:${join(scratch, "db.sqlite")}`);

/**
 * The steps: a label and the code it adds (an ES module body; `await` allowed). An aside is
 * measured on top of the steps before it but not carried into the later ones; a step alone on
 * bare Node (its + column: from bare Node).
 */
const STEPS: [string, string, ("aside" | "alone")?][] = [
  ["Node, bare", ""],
  [
    "+ node:https, node:tls, node:crypto",
    `await import("node:https"); await import("node:tls"); await import("node:crypto");`,
  ],
  ["+ web Request / Response (undici)", `new Response("x"); new Request("http://x/");`],
  ["+ @libsql/client/sqlite3 (local client)", `await import("@libsql/client/sqlite3");`],
  [
    "  (aside: + @libsql/client, the remote clients too)",
    `await import("@libsql/client");`,
    "aside",
  ],
  [
    "+ a database opened and queried",
    `const { createClient } = await import("@libsql/client/sqlite3");
     const c = createClient({ url: ${db} });
     await c.execute("create table if not exists t (a text)"); await c.execute("select * from t");`,
  ],
  [
    "+ drizzle-orm (its libSQL driver, sqlite-core)",
    `await import("drizzle-orm"); await import("drizzle-orm/libsql/sqlite3");
     await import("drizzle-orm/sqlite-core");`,
  ],
  [
    // prom-client's index loads every part of it whatever is used: its process CPU metric loads
    // @opentelemetry/api (for exemplars, off by default), and the push gateway, the cluster
    // aggregator (node:cluster) and the summary (tdigest) come along.
    "  (aside: prom-client's registry, counter, gauge, histogram and default metrics but its process CPU, required one by one)",
    `const { createRequire } = await import("node:module");
     const req = createRequire(${JSON.stringify(join(root, "package.json"))});
     const Registry = req("prom-client/lib/registry"); req("prom-client/lib/counter");
     req("prom-client/lib/gauge"); req("prom-client/lib/histogram");
     const register = new Registry();
     for (const m of ["processStartTime", "osMemoryHeap", "processOpenFileDescriptors",
       "processMaxFileDescriptors", "eventLoopLag", "processResources", "processHandles",
       "processRequests", "heapSizeAndUsed", "heapSpacesSizeAndUsed", "version", "gc"]) {
       req("prom-client/lib/metrics/" + m)(register, {});
     }`,
    "aside",
  ],
  [
    "+ prom-client, default metrics on",
    `const p = await import("prom-client"); p.collectDefaultMetrics({ register: new p.Registry() });`,
  ],
  ["+ ws", `await import("ws");`],
  ["+ itty-router, superstruct", `await import("itty-router"); await import("superstruct");`],
  // Each of the last two in a fresh process with nothing before it: cohort's modules as tsc
  // writes them (each of them, and each of its libraries' modules, an ES module of its own) and
  // as built, the bundle (scripts/bundle_mod.ts), each as far as createMember loads them.
  [
    "(alone: tsc's modules that createMember loads, libraries from node_modules)",
    `await Promise.all([${
      [
        "lib/daemon/daemon.js",
        "gossip/member_factory.js",
        "lib/metrics/member_metrics.js",
        "lib/metrics/observed_service.js",
        "lib/metrics/listener.js",
        "lib/status/tracker.js",
        "routes/router.js",
        "lib/store/open.js",
      ].map((p) => `import(${dist(p)})`).join(", ")
    }]);`,
    "alone",
  ],
  [
    "(alone: the bundle, dist/mod.js and the chunks createMember loads)",
    `await Promise.all([${
      ["mod.js", ...chunks("daemon", "member_factory", "member_metrics", "observed_service")]
        .concat(chunks("listener", "tracker"))
        .map((p) => `import(${dist(p)})`).join(", ")
    }]);`,
    "alone",
  ],
];

/** The bundle's chunks (`dist/mod-NAME-HASH.js`) of the modules named. */
function chunks(...names: string[]): string[] {
  const files = readdirSync(join(root, "dist"));
  return names.map((n) => {
    const file = files.find((f) => f.startsWith(`mod-${n}-`) && f.endsWith(".js"));
    if (!file) throw new Error(`no chunk dist/mod-${n}-*.js: npm run build`);
    return file;
  });
}

const MEASURE = `
globalThis.gc?.(); globalThis.gc?.();
await new Promise((r) => setTimeout(r, 200));
globalThis.gc?.();
const s = (await import("node:fs")).readFileSync("/proc/self/status", "utf8");
const kb = (f) => Number(new RegExp(f + ":\\\\s+(\\\\d+)").exec(s)[1]);
const m = process.memoryUsage();
console.log(JSON.stringify({ rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile"),
  heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external }));
`;

interface Sample {
  rss: number;
  anon: number;
  file: number;
  heap: number;
  heapTotal: number;
  external: number;
}

function measure(upTo: number): Sample {
  const body = STEPS.slice(0, upTo + 1)
    .filter(([, , kind], k) => k === upTo ? true : !kind && STEPS[upTo][2] !== "alone")
    .map(([, code]) => code).join("\n") + MEASURE;
  const r = spawnSync(
    process.execPath,
    [...FLAGS, "--expose-gc", "--input-type=module", "-e", body],
    { cwd: root, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`step ${upTo}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const load = spawnSync("uptime", { encoding: "utf8" }).stdout.trim().replace(/^.*load/, "load");
const mb = (kb: number) => (kb / 1024).toFixed(1);
try {
  console.log(`\nRSS of a fresh Node ${process.version} process after each part, after a full GC`);
  console.log(`median of ${RUNS}; flags: ${FLAGS.join(" ") || "none"}; ${load}\n`);
  console.log(
    "| step | VmRSS (MB) | + (MB) | RssAnon | RssFile | V8 heap used | V8 heap committed | external |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  let previous: number | undefined;
  let bare: number | undefined;
  for (let i = 0; i < STEPS.length; i++) {
    const samples = Array.from({ length: RUNS }, () => measure(i));
    const pick = (k: keyof Sample) => median(samples.map((x) => x[k]));
    const rss = pick("rss");
    if (i === 0) bare = rss;
    const from = STEPS[i][2] === "alone" ? bare : previous;
    console.log(
      `| ${STEPS[i][0]} | ${mb(rss)} | ${from === undefined ? "" : mb(rss - from)} | ` +
        `${mb(pick("anon"))} | ${mb(pick("file"))} | ${mb(pick("heap") / 1024)} | ` +
        `${mb(pick("heapTotal") / 1024)} | ` +
        `${mb(pick("external") / 1024)} |`,
    );
    if (!STEPS[i][2]) previous = rss;
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
