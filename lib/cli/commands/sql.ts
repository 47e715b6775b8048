import { readStdin } from "../input.ts";
import type { SqlResult } from "../../daemon/service.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { renderTable } from "../format.ts";
import { parse, parseSeconds, positionals, stateDirFrom, UsageError } from "../usage.ts";

/** `cohort sql "<query>" | .dump | .schema | -`. */
export const sqlCommand: Command = {
  path: ["sql"],
  summary: "Run SQL against the member's store, or dump it",
  usage: `Usage: cohort sql QUERY | .dump | .schema | - [--timeout SECONDS] [--state-dir DIR]

Runs one or more ";"-separated statements, each in its own transaction, and prints a table for
each statement that returns rows and "Rows affected: N" for the others. ".dump" prints the whole
store as SQL, ".schema" only its schema, "-" reads the query from standard input.

Statements run beside the daemon, never blocking it, and are cancelled when this command gives
up (--timeout) or after the daemon's own limit of 60 s. cohort's own tables (core_* and
__cohort_*) may be read, not changed; transaction control, ATTACH, VACUUM, file functions and
pragmas other than reads and connection settings are refused.

Options:
  --timeout SECONDS   Give up (and cancel the statements) after this long (default 30)
  --state-dir DIR     State directory of the local daemon
  -h, --help          Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, { timeout: { type: "string" } });
    let [query] = positionals(rest, ["QUERY"]);
    const stateDir = stateDirFrom(values);
    const timeoutMs = parseSeconds("timeout", values.timeout, 30) * 1000;
    if (timeoutMs === 0) throw new UsageError("--timeout must be more than 0 seconds");
    if (query === ".dump" || query === ".schema") {
      const path = query === ".schema" ? "/core/internal/sql?schema=1" : "/core/internal/sql";
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
    const { results } = await callDaemon<{ results: SqlResult[] }>(
      stateDir,
      "POST",
      "/core/internal/sql",
      { query },
      timeoutMs,
    );
    for (const result of results) {
      if (result.type === "select") deps.stdout.write(renderTable(result.columns, result.rows));
      else deps.stdout.write(`Rows affected: ${result.rows_affected}\n`);
    }
    return 0;
  },
};
