/**
 * Empties the write-ahead log of a stopped member's database, leaving what a stopped member
 * leaves (its log and shared-memory files in place), with nothing holding the database open.
 *
 * The checkpoint runs in a child process that then exits: a libSQL connection of this process
 * stays open after `close()` until the garbage collector finalises its statements (libsql-js
 * 0.5.29), and so did the restart cases' own. A start that found it open never truncated the
 * shared-memory file; one that found it closed (collected meanwhile, which deletes the log and
 * that file) had to make the file again on the full disk and stopped at "Open database"; one in
 * about ten runs beside the other cases.
 *
 * @module
 */
import { createClient } from "@libsql/client";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as assert from "uvu/assert";
import { isMainModule, moduleCommand } from "../../lib/runtime.ts";

/** The database of the state directory `dir`. */
const databaseOf = (dir: string) => join(dir, "database", "cohort.db");

/**
 * Checkpoints the database of the stopped member whose state directory is `dir` and truncates
 * its log to 0 bytes, in a child process that has exited when this returns.
 */
export function emptyLog(dir: string): void {
  const { command, args } = moduleCommand(fileURLToPath(import.meta.url));
  const r = spawnSync(command, [...args, databaseOf(dir)], { encoding: "utf8", timeout: 60_000 });
  assert.is(r.status, 0, `checkpoint of ${databaseOf(dir)}: ${r.stderr}${r.error ?? ""}`);
  assert.match(r.stdout, /^0 0 0$/m, `the log was emptied: ${r.stdout}`);
}

if (isMainModule(import.meta)) {
  const db = createClient({ url: `file:${process.argv[2]}` });
  const r = await db.execute("PRAGMA wal_checkpoint(TRUNCATE)");
  // busy, frames in the log, frames checkpointed: "0 0 0" once the log is empty.
  console.log([0, 1, 2].map((i) => r.rows[0][i]).join(" "));
  // The exit, not `close()`, lets go of the database (see the module docs).
  process.exit(0);
}
