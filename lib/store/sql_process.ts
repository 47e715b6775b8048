/**
 * The SQL console's child process (see `sql_console.ts`): reads one request on stdin, opens its
 * own connection to the member's database, runs the script (or the dump) and writes one answer
 * on stdout, then exits. Its parent kills it to cancel it. It logs nothing: stdout carries only
 * the protocol.
 *
 * @module
 */
import process from "node:process";
import { isCohortError } from "../errors.ts";
import { isMainModule } from "../runtime.ts";
import { openClient } from "./client.ts";
import { toStoreError } from "./errors.ts";
import type { ConsoleRequest, ErrorAnswer } from "./sql_console.ts";
import { dumpSql, executeSql } from "./sql.ts";
import { CONSOLE_HEAP_MB } from "./sql_console.ts";

/** How long the child waits for a lock held by the member or another console, ms. */
const BUSY_TIMEOUT_MS = 5000;

/** Runs one request and returns the answer line. Never throws. */
export async function serveConsole(input: string): Promise<string> {
  let client;
  try {
    const request = JSON.parse(input) as ConsoleRequest;
    const { location } = request;
    client = await openClient({ ...location, timeout: BUSY_TIMEOUT_MS });
    // SQLite's own allocations (sorts, temporary b-trees) count against the console's memory
    // too; a failing allocation is reported as an error, not a crash.
    await client.execute(`PRAGMA hard_heap_limit = ${CONSOLE_HEAP_MB * 1024 * 1024}`);
    const store = { client, location };
    const ok = request.op === "execute"
      ? await executeSql(store, request.query, { isolate: false })
      : await dumpSql(store, { schemaOnly: request.schemaOnly, isolate: false });
    return JSON.stringify({ ok });
  } catch (err) {
    const e = isCohortError(err) ? err : toStoreError(err, "Execute SQL", { userSql: true });
    const error: ErrorAnswer = {
      code: e.code,
      status: e.status,
      message: e.message,
      ...((e as { field?: string }).field ? { field: (e as { field?: string }).field } : {}),
    };
    return JSON.stringify({ error });
  } finally {
    client?.close();
  }
}

if (isMainModule(import.meta)) {
  let input = "";
  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin) input += chunk;
  const answer = await serveConsole(input);
  process.stdout.write(answer, () => process.exit(0));
}
