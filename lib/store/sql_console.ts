/**
 * Runs the SQL console's work (`cohort sql`: a script, or a dump) in a child process with its own
 * connection to the member's database, so that no statement can hold the member's event loop:
 * gossip and the API keep answering while one runs. A run that outlives its time limit, or whose
 * caller goes away, is cancelled by killing the child (SIGKILL): SQLite's journal undoes whatever
 * the statement had begun, as after a crash. The child's memory is capped too (V8 heap and
 * SQLite's heap), and so is the size of its answer.
 *
 * Protocol: one JSON request on the child's stdin ({@link ConsoleRequest}), one JSON answer on
 * its stdout (`{"ok": …}` or `{"error": {code, status, message, field}}`).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { setPriority } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  CohortError,
  ConflictError,
  describeDescriptorLimit,
  descriptorFault,
  DescriptorLimitError,
  type ErrorCode,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnavailableError,
} from "../errors.ts";
import { openFileLimit } from "../open_files.ts";
import { deadlineIn } from "../net/late_deadline.ts";
import { isDeno, moduleCommand } from "../runtime.ts";
import type { StoreLocation } from "./types.ts";

/** What the child is asked to do. */
export type ConsoleRequest =
  & { location: StoreLocation }
  & ({ op: "execute"; query: string } | { op: "dump"; schemaOnly: boolean });

/** Options of a console run. */
export interface ConsoleOptions {
  /** Cancels the run (its child is killed), e.g. when the HTTP client went away. */
  signal?: AbortSignal;
  /** The longest a run may take, in ms. @default {@link SQL_TIMEOUT_MS} */
  timeoutMs?: number;
  /**
   * Run in a child process (`true`, the default for a database a second connection can open) or
   * in this process (`false`: the child itself, and tests; neither time limit nor signal apply).
   */
  isolate?: boolean;
}

/** The console's time limit: a run is cancelled after 60 s. */
export const SQL_TIMEOUT_MS = 60_000;
/** The child's V8 heap, in MB (rows are materialised there before they are sent). */
export const CONSOLE_HEAP_MB = 512;
/** The child's scheduling niceness (0–19; higher yields more): the member itself comes first. */
export const CONSOLE_NICENESS = 10;
/** The largest answer (all results of a script, or a dump), in bytes of JSON. */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/** A serialised cohort error, as the child reports it. */
export interface ErrorAnswer {
  code: string;
  status: number;
  message: string;
  field?: string;
}

/** Children running now, killed if this process exits while they run. */
const running = new Set<ChildProcess>();
let exitHook = false;

function childCommand(): { command: string; args: string[] } {
  const file = fileURLToPath(
    new URL(
      import.meta.url.endsWith(".ts") ? "./sql_process.ts" : "./sql_process.js",
      import.meta.url,
    ),
  );
  const { command, args } = moduleCommand(file);
  // The heap limit goes before the module: `node … --max-old-space-size=N file`,
  // `deno run -A --v8-flags=… file`.
  const flag = isDeno
    ? `--v8-flags=--max-old-space-size=${CONSOLE_HEAP_MB}`
    : `--max-old-space-size=${CONSOLE_HEAP_MB}`;
  return { command, args: [...args.slice(0, -1), flag, file] };
}

/** Rebuilds the child's error as the cohort error it was. */
function rebuild(e: ErrorAnswer): CohortError {
  switch (e.code) {
    case "E_INVALID":
      return new InvalidInputError(e.message, { field: e.field });
    case "E_FORBIDDEN":
      return new ForbiddenError(e.message);
    case "E_CONFLICT":
      return new ConflictError(e.message);
    case "E_NOT_FOUND":
      return new NotFoundError(e.message);
    case "E_UNAVAILABLE":
      return new UnavailableError(e.message);
    default:
      return new CohortError(e.code as ErrorCode, e.status, e.message);
  }
}

/**
 * Runs `request` in a child process and returns its result.
 *
 * @throws the cohort error the child reports (400 for bad SQL, 403 for a protected table, …)
 * @throws {InvalidInputError} when the run is cancelled (time limit, `signal`), or the child
 *   ends without an answer (out of memory) or answers too much
 */
export function runInConsole<T>(request: ConsoleRequest, options: ConsoleOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? SQL_TIMEOUT_MS;
  const what = request.op === "execute" ? "Execute SQL" : "Dump database";
  return new Promise<T>((resolve, reject) => {
    if (options.signal?.aborted) {
      return reject(new InvalidInputError(`${what}: cancelled before it started`));
    }
    const { command, args } = childCommand();
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "ignore"] });
    running.add(child);
    // The member comes first: the console's work yields the CPU to gossip and the API.
    try {
      if (child.pid !== undefined) setPriority(child.pid, CONSOLE_NICENESS);
    } catch { /* not permitted here: the child runs at the member's priority */ }
    if (!exitHook) {
      exitHook = true;
      process.once("exit", () => {
        for (const c of running) c.kill("SIGKILL");
      });
    }
    let out = "";
    let size = 0;
    let settled = false;
    const finish = (err: Error | undefined, value?: T) => {
      if (settled) return;
      settled = true;
      timer.clear();
      options.signal?.removeEventListener("abort", onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      running.delete(child);
      if (err) reject(err);
      else resolve(value as T);
    };
    const onAbort = () =>
      finish(new InvalidInputError(`${what}: cancelled: the caller went away`, { field: "query" }));
    options.signal?.addEventListener("abort", onAbort, { once: true });
    // Late-aware: after a held loop, an answer that waits in the child's pipe is read first.
    const timer = deadlineIn(timeoutMs, () => {
      finish(
        new InvalidInputError(
          `${what}: cancelled after ${timeoutMs / 1000} s, the SQL console's time limit`,
          { field: "query" },
        ),
      );
    }, { ref: true });
    child.once("error", (err) => {
      // A member out of file descriptors cannot start the console (its pipes): a 503 saying
      // so, not a 400 blaming the query.
      const fd = descriptorFault(err);
      finish(
        fd === undefined
          ? new InvalidInputError(`${what}: ${err.message}`)
          : new DescriptorLimitError(
            `${what}: ${describeDescriptorLimit(fd, "the member", openFileLimit())}, and try again`,
            { cause: err },
          ),
      );
    });
    // A spawn that failed at once (EMFILE: no descriptor for its pipes) has no streams: its
    // 'error' event, next, tells why (reaching for them threw a TypeError, a 500).
    if (!child.stdout || !child.stdin) return;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      size += chunk.length;
      if (size > 2 * MAX_ANSWER_BYTES) {
        finish(new InvalidInputError(`${what}: the answer is larger than the console sends`));
      } else out += chunk;
    });
    child.once("close", (code, signal) => {
      running.delete(child);
      if (settled) return;
      let answer: { ok?: T; error?: ErrorAnswer } | undefined;
      try {
        answer = out ? JSON.parse(out) : undefined;
      } catch { /* incomplete: the child died writing */ }
      if (answer?.error) return finish(rebuild(answer.error));
      if (answer && "ok" in answer) return finish(undefined, answer.ok as T);
      finish(
        new InvalidInputError(
          `${what}: the console process ended without an answer (${signal ?? `exit ${code}`}): ` +
            `the statement may need more than the console's ${CONSOLE_HEAP_MB} MB of memory`,
          { field: "query" },
        ),
      );
    });
    child.stdin.on("error", () => {}); // the child died first: its close event tells
    child.stdin.end(JSON.stringify(request));
  });
}
