/**
 * A write that waits for the store's write lock gets it when the holder's operation completed
 * in time while the member's event loop was held (stopped with SIGSTOP and continued, its VM
 * paused, swapping), not SQLITE_BUSY: a held loop runs its expired timers before it reads what
 * completed meanwhile, and the wait's patience must look once more (`lib/net/late_deadline.ts`).
 *
 * Played in one process: the holder's operation is real I/O (a file written off the loop, as
 * the writer thread's transaction is); it starts, a second write asks for the lock, and the loop
 * is held past the second's patience in that I/O callback.
 */
import { stat, writeFile } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { WriteLock } from "../../lib/store/write_lock.ts";
import { holdLoop } from "../helpers/held_loop.ts";

const test = suite("a lock released while the loop was held");

/** The waiting write's patience here: short, so that the hold past it stays short. */
const PATIENCE_MS = 300;

test("is granted to the write waiting for it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cohort-lock-held-"));
  const lock = new WriteLock();
  try {
    const release = await lock.acquire(PATIENCE_MS);
    const outcome = await new Promise<Promise<string>>((done) =>
      stat(dir, () => {
        // The holder's operation: it completes off the loop, then releases the lock.
        writeFile(join(dir, "op"), "done", () => release());
        const waiting = lock.acquire(PATIENCE_MS).then(
          (releaseSecond) => {
            releaseSecond();
            return "granted";
          },
          (err: Error) => err.message,
        );
        // Past the patience by more than a held loop's margin (100 ms).
        holdLoop(PATIENCE_MS + 500);
        done(waiting);
      })
    );
    assert.is(await outcome, "granted");
    assert.not.ok(lock.held);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
