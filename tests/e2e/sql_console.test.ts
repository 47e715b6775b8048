/**
 * The SQL console against real member processes (issue 12, defects 6 and 7): a statement that
 * runs for a long time no longer holds the member (the API and gossip keep answering) and is
 * cancelled when the CLI gives up; cohort's own tables cannot be dropped or altered from the
 * console, so the member always restarts.
 */
import { readdirSync, readFileSync } from "node:fs";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { cohortPiped } from "../helpers/process.ts";
import {
  allOnline,
  api,
  eventually,
  formCluster,
  type Member,
  members,
  run,
  startMember,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";

interface Ctx {
  cluster: Member[];
}

const test = suite<Ctx>("SQL console end to end");

test.before(async (ctx) => {
  ctx.cluster = await formCluster(["s1", "s2"]);
});

test.after(async (ctx) => {
  await stopMembers(ctx.cluster ?? []);
});

/** PIDs of the console child processes of process `parent`. */
function consoleChildren(parent: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (ppid === parent && cmdline.includes("sql_process")) found.push(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return found;
}

const CTE = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c " +
  "LIMIT 150000000) SELECT count(*) FROM c";

test("a 150-million-row CTE holds nothing: the member answers meanwhile, and cancels it at the CLI's --timeout, saying so", async ({ cluster }) => {
  const [s1, s2] = cluster;
  const pid = s1.daemon!.child.pid!;
  let running = true;
  let answered = 0;
  const failures: string[] = [];
  const poll = (async () => {
    while (running) {
      try {
        // Each request gets 10 s, far more than a member needs (a liveness bound, not a timing).
        const info = await api(s1, "GET", "/core/1.0");
        if (info.status === 200) answered++;
        else failures.push(`GET /core/1.0: ${info.status}`);
        const seen = (await members(s2)).find((e) => e.name === "s1");
        if (seen?.status !== "ONLINE") failures.push(`s2 sees s1 ${seen?.status}`);
      } catch (err) {
        failures.push(String(err));
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const sql = await run(s1, ["sql", "--timeout", "4", CTE]);
  const during = answered;
  running = false;
  await poll;
  assert.equal(failures, [], "the member kept answering and gossiping");
  assert.ok(during >= 3, `answered ${during} requests while the statement ran`);
  assert.is(sql.code, 1, sql.stdout);
  // The daemon cancels the statement at the CLI's --timeout and says so; the CLI waits for that
  // answer (15 s more), so the user reads why, not the CLI's own "no answer within 4000 ms".
  assert.match(sql.stderr, /cancelled after 4 s, the SQL console's time limit/);
  await eventually(
    "the console process gone",
    () => Promise.resolve(consoleChildren(pid).length === 0),
    10_000,
  );
  const after = await run(s1, ["sql", "SELECT 1 AS one"]);
  assert.is(after.code, 0, after.stderr);
  assert.match(after.stdout, /one/);
});

test("cohort's own tables cannot be dropped or altered from the console; the member restarts", async ({ cluster }) => {
  const [s1, s2] = cluster;
  for (
    const statement of [
      "DROP TABLE core_records",
      "DROP TABLE main.core_records",
      "ALTER TABLE core_records RENAME TO old_records",
      "DELETE FROM core_cluster_members",
      "CREATE TABLE ok (a); DROP TABLE core_cluster_members",
      "PRAGMA writable_schema = 1; UPDATE sqlite_master SET sql = '' WHERE name = 'core_records'",
      "BEGIN; DROP TABLE core_records; COMMIT",
    ]
  ) {
    const r = await run(s1, ["sql", statement]);
    assert.is(r.code, 1, `${statement}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /read-only in the SQL console|is not available in the SQL console|runs only pragmas/,
      `${statement}: ${r.stderr}`,
    );
  }
  const read = await run(s1, ["sql", "SELECT count(*) AS n FROM core_cluster_members"]);
  assert.is(read.code, 0, read.stderr);
  assert.match(read.stdout, /\b2\b/);
  await stop(s1);
  await startMember(s1);
  await allOnline([s1, s2], ["s1", "s2"], 60_000); // a liveness bound: a busy machine is slow
});

test("`sql -` waits for a pipe whose writer is slower than the CLI's start (a shell pipeline)", async ({ cluster }) => {
  // A synchronous read of a pipe nothing was written to yet failed with EAGAIN under Node.
  const run = await cohortPiped(
    ["sql", "-", "--state-dir", cluster[0].dir],
    "SELECT 40 + 2 AS answer",
  );
  assert.is(run.stderr, "");
  assert.is(run.code, 0);
  assert.match(run.stdout, /answer/);
  assert.match(run.stdout, /\b42\b/);
});

test.run();
