/**
 * A member's store in a file (the default) loads libSQL's local client alone: the remote clients
 * that `@libsql/client` loads beside it (WebSocket and HTTP, with their protocol library) cost an
 * idle member about 6 MB of memory it never uses. Checked from outside, in a Node process of its
 * own (`dist/`), by a loader hook that records every file loaded.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadRecorder } from "../helpers/loaded_files.ts";
import { removeDir, tempDir } from "../helpers/process.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const test = suite("a file database loads libSQL's local client alone");

test("openStore on a file: URL loads no remote client, and the store works", () => {
  const dir = tempDir("cohort-local-client-");
  try {
    const recorder = loadRecorder(dir);
    const url = `file:${join(dir, "db.sqlite")}`;
    writeFileSync(
      join(dir, "main.mjs"),
      `import { openStore } from ${
        JSON.stringify(pathToFileURL(join(root, "dist/lib/store/open.js")).href)
      };
const store = await openStore({ url: ${JSON.stringify(url)} });
const r = await store.client.execute("select count(*) as n from sqlite_master");
console.log(JSON.stringify({ tables: Number(r.rows[0].n) }));
store.close();`,
    );
    const stdout = execFileSync("node", [...recorder.args, join(dir, "main.mjs")], {
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.ok(JSON.parse(stdout.trim()).tables > 0, "migrated and queried");
    const loaded = recorder.files();
    assert.ok(loaded.some((u) => u.includes("/@libsql/client/lib-esm/sqlite3.js")), "local");
    assert.equal(
      loaded.filter((u) =>
        /\/@libsql\/(hrana-client|isomorphic-ws)\/|\/lib-esm\/(ws|http)\.js/.test(u)
      ),
      [],
    );
  } finally {
    removeDir(dir);
  }
});

test.run();
