/**
 * A member started with `metrics: false` never loads the Prometheus client (nor what it loads):
 * an app that turns metrics off saves their start-up and memory. Checked from outside, in a Node
 * process of its own (`dist/mod.js`), by a loader hook that records every file loaded.
 */
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadedSources, loadRecorder } from "../helpers/loaded_files.ts";
import { tempDir } from "../helpers/process.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const test = suite("the Prometheus client is loaded only with metrics on");

function loaded(metrics: boolean): string[] {
  const dir = tempDir("cohort-lazy-");
  try {
    const recorder = loadRecorder(dir);
    writeFileSync(
      join(dir, "main.mjs"),
      `import { createMember } from ${
        JSON.stringify(pathToFileURL(join(root, "dist/mod.js")).href)
      };
const m = await createMember({ stateDir: ${
        JSON.stringify(join(dir, "state"))
      }, metrics: ${metrics} });
await m.stop();`,
    );
    execFileSync("node", [...recorder.args, join(dir, "main.mjs")], {
      stdio: "ignore",
      timeout: 120_000,
    });
    return recorder.files();
  } finally {
    // The member's certificate process, started with the same loader hook, is ended when the
    // member stops, but may record a last file while the directory is removed (ENOTEMPTY).
    rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  }
}

test("metrics off: no prom-client; metrics on: prom-client", () => {
  // A bundled file stands for the modules its source map lists (dist/mod.js bundles
  // prom-client into the chunk the metrics load).
  const off = loadedSources(loaded(false), root);
  assert.ok(off.includes("lib/daemon/daemon.ts"), "the member ran");
  assert.equal(off.filter((f) => f.includes("node_modules/prom-client/")), []);
  assert.equal(off.filter((f) => f.includes("lib/metrics/member_metrics")), []);
  const on = loadedSources(loaded(true), root);
  assert.ok(on.some((f) => f.includes("node_modules/prom-client/")), "loaded with metrics on");
  // Only the parts of it a member uses: its index also loads the summary (with its t-digest),
  // the push gateway and the cluster aggregator.
  assert.equal(
    on.filter((f) =>
      /node_modules\/(prom-client\/(index|lib\/(summary|pushgateway|cluster))\.js|tdigest|bintrees)/
        .test(f)
    ),
    [],
  );
});

test.run();
