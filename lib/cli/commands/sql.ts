import { readFileSync } from "node:fs";
import type { SqlResult } from "../../daemon/service.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { renderTable } from "../format.ts";
import { parse, positionals, stateDirFrom, UsageError } from "../usage.ts";

/** `cohort sql "<query>" | .dump | .schema | -`. */
export const sqlCommand: Command = {
  path: ["sql"],
  summary: "Run SQL against the member's store, or dump it",
  usage: `Usage: cohort sql QUERY | .dump | .schema | - [--state-dir DIR]

Runs one or more ";"-separated statements, each in its own transaction, and prints a table for
each statement that returns rows and "Rows affected: N" for the others. ".dump" prints the whole
store as SQL, ".schema" only its schema, "-" reads the query from standard input.

Options:
  --state-dir DIR   State directory of the local daemon
  -h, --help        Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, {});
    let [query] = positionals(rest, ["QUERY"]);
    const stateDir = stateDirFrom(values);
    if (query === ".dump" || query === ".schema") {
      const path = query === ".schema" ? "/core/internal/sql?schema=1" : "/core/internal/sql";
      const { text } = await callDaemon<{ text: string }>(stateDir, "GET", path);
      deps.stdout.write(text.endsWith("\n") ? text : text + "\n");
      return 0;
    }
    if (query === "-") query = readFileSync(0, "utf8");
    if (query.trim() === "") throw new UsageError("QUERY must not be empty");
    const { results } = await callDaemon<{ results: SqlResult[] }>(
      stateDir,
      "POST",
      "/core/internal/sql",
      { query },
    );
    for (const result of results) {
      if (result.type === "select") deps.stdout.write(renderTable(result.columns, result.rows));
      else deps.stdout.write(`Rows affected: ${result.rows_affected}\n`);
    }
    return 0;
  },
};
