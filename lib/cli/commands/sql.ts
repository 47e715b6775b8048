import { readStdin } from "../input.ts";
import type { SqlResult } from "../../daemon/service.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { renderTable } from "../format.ts";
import { secondsFlag } from "../flag_values.ts";
import { parse, positionals, stateDirFrom, UsageError } from "../usage.ts";

/**
 * The daemon's own limit on a SQL console run, in seconds (`SQL_TIMEOUT_MS` of the console,
 * not imported: the CLI does not load the store; tests/cli/sql_timeout checks they agree).
 */
export const SQL_LIMIT_S = 60;

/**
 * `--timeout`'s bounds: the API's (`timeout` of `POST|GET /core/internal/sql`, which answers 400
 * outside them), checked here so the user reads the rule, not the daemon's field.
 */
export const SQL_TIMEOUT_BOUNDS = { min: 0.001, max: SQL_LIMIT_S } as const;

/**
 * The longest query, in characters (UTF-16 code units, as JavaScript counts): the API's (`query`
 * of `POST /core/internal/sql`, which answers 400 past it; tests/cli/flag_values checks they
 * agree), checked here so the user reads the rule, not the daemon's field.
 */
export const SQL_QUERY_MAX_CHARS = 1_048_576;

/**
 * How much longer than the run's time limit the CLI waits for the daemon's answer, in ms: the
 * daemon cancels the run at the limit and answers why, but on a busy host its answer (and the
 * console's child, started at a lower priority) may come seconds late. The user then reads the
 * daemon's answer, not the CLI's own "no answer".
 */
export const SQL_ANSWER_GRACE_MS = 15_000;

/** `cohort sql "<query>" | .dump | .schema | -`. */
export const sqlCommand: Command = {
  path: ["sql"],
  summary: "Run SQL against the member's store, or dump it",
  usage: `Usage: cohort sql QUERY | .dump | .schema | - [--timeout SECONDS] [--state-dir DIR]

Runs one or more ";"-separated statements, each in its own transaction, and prints a table for
each statement that returns rows and "Rows affected: N" for the others. ".dump" prints the whole
store as SQL, ".schema" only its schema, "-" reads the query from standard input.

Statements run beside the daemon, never blocking it, and the daemon cancels them after
--timeout (at most its own limit of ${SQL_LIMIT_S} s) and says so; this command waits 15 s more for that
answer, and cancels them too when it gives up. cohort's own tables (core_* and
__cohort_*) may be read, not changed; transaction control, ATTACH, VACUUM, file functions and
pragmas other than reads and connection settings are refused.

Options:
  --timeout SECONDS   Cancel the statements after this long: ${SQL_TIMEOUT_BOUNDS.min} to ${SQL_TIMEOUT_BOUNDS.max} (default 30)
  --state-dir DIR     State directory of the local daemon
  -h, --help          Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, { timeout: { type: "string" } });
    let [query] = positionals(rest, ["QUERY"]);
    const stateDir = stateDirFrom(values);
    const seconds = secondsFlag("timeout", values.timeout, 30, SQL_TIMEOUT_BOUNDS);
    // The daemon enforces the limit and answers; the CLI's own deadline is only a backstop.
    const timeoutMs = seconds * 1000 + SQL_ANSWER_GRACE_MS;
    if (query === ".dump" || query === ".schema") {
      const path = `/core/internal/sql?${query === ".schema" ? "schema=1&" : ""}timeout=${seconds}`;
      const { text } = await callDaemon<{ text: string }>(
        stateDir,
        "GET",
        path,
        undefined,
        timeoutMs,
      );
      deps.stdout.write(text.endsWith("\n") ? text : text + "\n");
      return 0;
    }
    if (query === "-") query = await readStdin("the query");
    if (query.trim() === "") throw new UsageError("QUERY must not be empty");
    if (query.length > SQL_QUERY_MAX_CHARS) {
      throw new UsageError(
        `QUERY must be at most ${SQL_QUERY_MAX_CHARS} characters, got ${query.length}`,
      );
    }
    const { results } = await callDaemon<{ results: SqlResult[] }>(
      stateDir,
      "POST",
      "/core/internal/sql",
      { query, timeout: seconds },
      timeoutMs,
    );
    for (const result of results) {
      if (result.type === "select") deps.stdout.write(renderTable(result.columns, result.rows));
      else deps.stdout.write(`Rows affected: ${result.rows_affected}\n`);
    }
    return 0;
  },
};
