/**
 * `cohort sql --timeout`: the CLI hands the time limit to the daemon, which cancels the
 * statements and answers why, and waits for that answer past the limit (issue 15: on a busy
 * host the answer came after the CLI's own 30 s, and the user read "no answer" instead). A fake
 * daemon on the control socket answers late, as a loaded one does.
 */
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { CliDeps } from "../../lib/cli/command.ts";
import { SQL_LIMIT_S } from "../../lib/cli/commands/sql.ts";
import { runCli } from "../../lib/cli/main.ts";
import { SQL_TIMEOUT_MS } from "../../lib/store/sql_console.ts";
import { removeDir, tempDir } from "../helpers/process.ts";
import { sink } from "./_helpers.ts";

interface Seen {
  method: string;
  url: string;
  body: string;
}

/** A control socket in `dir` that answers every request `delayMs` late with `answer`. */
async function fakeDaemon(
  dir: string,
  delayMs: number,
  answer: (seen: Seen) => { status: number; body: unknown },
): Promise<{ server: Server; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => body += c);
    req.on("end", () => {
      const s = { method: req.method!, url: req.url!, body };
      seen.push(s);
      setTimeout(() => {
        const { status, body } = answer(s);
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(join(dir, "control.socket"), resolve));
  return { server, seen };
}

const cancelled = (seconds: number) => ({
  status: 400,
  body: {
    type: "error",
    status: "Bad Request",
    status_code: 400,
    operation: "",
    error_code: 400,
    error: `Execute SQL: cancelled after ${seconds} s, the SQL console's time limit`,
    metadata: null,
  },
});

const test = suite("cohort sql --timeout");

test("the CLI's limit is the daemon's", () => {
  assert.is(SQL_LIMIT_S * 1000, SQL_TIMEOUT_MS);
});

test("the daemon gets the time limit and its late answer is read: the user sees why", async () => {
  const dir = tempDir("cohort-sql-timeout-");
  // The daemon answers 700 ms after a limit of 0.2 s: before, the CLI gave up at 0.2 s with
  // "no answer within 200 ms".
  const { server, seen } = await fakeDaemon(dir, 700, () => cancelled(0.2));
  try {
    const out = sink();
    const err = sink();
    const deps = { stdout: out, stderr: err } as unknown as CliDeps;
    const code = await runCli(["sql", "SELECT 1", "--timeout", "0.2", "--state-dir", dir], deps);
    assert.is(code, 1, err.text);
    assert.match(err.text, /cancelled after 0.2 s, the SQL console's time limit/);
    assert.not.match(err.text, /no answer/);
    assert.equal(JSON.parse(seen[0].body), { query: "SELECT 1", timeout: 0.2 });
    await runCli([
      "sql",
      ".schema",
      "--timeout",
      String(SQL_LIMIT_S),
      "--state-dir",
      dir,
    ], { stdout: sink(), stderr: sink() } as unknown as CliDeps);
    assert.is(seen[1].url, `/core/internal/sql?schema=1&timeout=${SQL_LIMIT_S}`);
    // Past the limit the command refuses and sends nothing (it used to send 60 silently).
    const refused = sink();
    const code2 = await runCli(
      ["sql", ".schema", "--timeout", "300", "--state-dir", dir],
      { stdout: sink(), stderr: refused } as unknown as CliDeps,
    );
    assert.is(code2, 2);
    assert.match(refused.text, /--timeout must be a number of seconds from 0.001 to 60/);
    assert.is(seen.length, 2);
  } finally {
    await new Promise((resolve) => server.close(resolve));
    removeDir(dir);
  }
});

test.run();
