/**
 * A SQL console run whose child answered in time while the member's event loop was held (the
 * member stopped with SIGSTOP and continued, its VM paused, swapping) gives that answer, not
 * "cancelled after … s, the SQL console's time limit": a held loop runs its expired timers
 * before it reads the child's pipe, and the time limit must look once more
 * (`lib/net/late_deadline.ts`).
 *
 * Played in one process with the real child: the loop is held until
 * the child has exited (its answer waits in the pipe; the child stays a zombie, unreaped, until
 * the loop runs) and past the time limit: from when the child opened the database, which it
 * does once it read its whole request, and before its query's work is done.
 */
import { readdirSync, readFileSync, readlinkSync, stat } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runInConsole } from "../../lib/store/sql_console.ts";
import { holdLoop } from "../helpers/held_loop.ts";
import { fileUrl, tempDir } from "./helpers.ts";

const test = suite("a console run answered while the loop was held");

/** This process's console children that are still running (not exited): their pids. */
function liveChildren(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let fields: string[];
    try {
      // "pid (comm) state ppid …": the command may hold spaces, the fields after ")" do not.
      const text = readFileSync(`/proc/${name}/stat`, "utf8");
      fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    } catch {
      continue; // gone meanwhile
    }
    if (Number(fields[1]) !== process.pid || fields[0] === "Z") continue;
    try {
      // Not other children (tsx's esbuild service).
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes("sql_process")) {
        pids.push(Number(name));
      }
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

/** Whether `child` has `file` open: it read its whole request, and runs it now. */
function hasOpen(child: number, file: string): boolean {
  try {
    return readdirSync(`/proc/${child}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${child}/fd/${fd}`) === file;
      } catch {
        return false; // closed meanwhile
      }
    });
  } catch {
    return false; // the child is gone: the wait below then fails it
  }
}

test("gives the child's answer", async () => {
  const { dir, remove } = tempDir();
  const request = {
    op: "execute" as const,
    // Some work (~1 s here unloaded), so that the child answers well after it opened the
    // database: the loop is held by then.
    query: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 2000000) " +
      "SELECT count(*) AS n FROM c",
    location: { url: fileUrl(dir) },
  };
  const database = join(dir, "db.sqlite");
  try {
    // How long a run takes here, the loop not held: the time limit is set well above it, so
    // that the child's answer comes in time.
    const started = performance.now();
    const expected = await runInConsole(request);
    const timeoutMs = Math.max(1000, 3 * (performance.now() - started));
    assert.is(liveChildren().length, 0, "no console child runs before the held run");
    const start = performance.now();
    const run = runInConsole(request, { timeoutMs });
    run.catch(() => {}); // awaited below: an assertion failing first leaves it unhandled
    const [child] = liveChildren();
    assert.ok(child !== undefined, "the run's child runs");
    // Once the child has its whole request (writing it and its end need the loop) and opened the
    // database, the loop is held until the child has answered and exited, then past the limit
    // by more than a held loop's margin (100 ms).
    while (!hasOpen(child, database)) {
      assert.ok(liveChildren().includes(child), "the child runs until it opened the database");
      await new Promise((r) => setTimeout(r, 1));
      // The check and the hold run in an I/O callback (a timer's would not do: Node runs the
      // timers due by its loop's time, read before the hold).
      await new Promise((r) => stat(dir, r));
    }
    const holdUntil = performance.now() + 120_000;
    while (liveChildren().includes(child) && performance.now() < holdUntil) holdLoop(20);
    assert.not.ok(liveChildren().includes(child), "the child answered while the loop was held");
    holdLoop(start + timeoutMs + 500 - performance.now());
    const got = await run;
    assert.equal(got, expected);
  } finally {
    remove();
  }
});

test.run();
