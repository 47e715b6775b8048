/**
 * Another process reading a member's database, as an operator's `sqlite3` session does (or a
 * backup tool): an open read transaction (`BEGIN; SELECT …`) pins the snapshot it began with, so
 * no checkpoint can copy the log's later commits into the database file, and none syncs them.
 *
 * The reader first empties the log (`PRAGMA wal_checkpoint(TRUNCATE)`), so that its snapshot
 * holds none of it: every commit the member makes afterwards sits in the log, unsynced
 * (`synchronous = NORMAL`), until the member's own stop stores it. Without that, whether a
 * checkpoint still had older frames to copy (and synced the whole log doing it) would depend on
 * when the reader began.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { ensureCommand } from "./system.ts";

/** A `sqlite3` process holding a read transaction open on a database. */
export interface DbReader {
  /** Kills it (SIGKILL: it neither checkpoints nor removes the log as it goes). Idempotent. */
  kill(): Promise<void>;
}

/**
 * The frames in `database`'s log, from its shared-memory index (`mxFrame`, bytes 16–19 of the
 * `-shm` file in the machine's byte order: https://sqlite.org/walformat.html).
 */
export function logFrames(database: string): number {
  const shm = readFileSync(`${database}-shm`);
  return shm.readUInt32LE(16);
}

/**
 * Starts `sqlite3 <database>` (installed with apt-get when missing; the reason when it cannot
 * be), has it empty the log and begin a read transaction; resolves once it holds a snapshot
 * with an empty log. Tried again (5 times at most) when the member committed meanwhile.
 */
export async function holdReader(database: string): Promise<DbReader | string> {
  const why = ensureCommand("sqlite3", "sqlite3");
  if (why) return why;
  let last = "";
  for (let tries = 0; tries < 5; tries++) {
    const child = spawn("sqlite3", [database], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const ended = new Promise<void>((done) => child.on("close", () => done()));
    const kill = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await ended;
    };
    child.stdin!.write(
      "PRAGMA busy_timeout = 5000;\nPRAGMA wal_checkpoint(TRUNCATE);\n" +
        "BEGIN;\nSELECT 'held', count(*) FROM sqlite_master;\n",
    );
    // Printed once the read ran: until COMMIT, the snapshot is held.
    while (!/^held\|\d+$/m.test(out) && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // "busy|log|checkpointed": 0|0|0 once the log was emptied; no frame since, so the
    // snapshot holds no frame of the log.
    if (/^0\|0\|0$/m.test(out) && /^held\|/m.test(out) && logFrames(database) === 0) {
      return { kill };
    }
    last = out.trim();
    await kill();
  }
  throw new Error(`sqlite3 could not hold a snapshot of ${database} with an empty log: ${last}`);
}
