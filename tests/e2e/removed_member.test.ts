/**
 * End to end, with an app built on cohort (tests/e2e/fixtures/hook_app.ts) as real processes:
 * a member force-removed while it was down learns of its removal before it opens when it
 * restarts. It never runs onStart, never serves its app endpoints nor lists itself as a member,
 * and resets at once; the reset leaves a state directory equivalent to a fresh one (the app's
 * tables and migrations included) and keeps no trace of the cluster's roster or tokens in its
 * database files.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  api,
  APP_MIGRATIONS,
  bootstrapAndJoin,
  eventually,
  isClean,
  kill,
  type Member,
  newMember,
  run,
  stateFile,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { hookLines, spawnApp, startApp } from "../helpers/app.ts";
import { logged } from "../helpers/upgrade.ts";
import { databaseBytes, databaseSummary } from "../helpers/state.ts";
import { waitForSocket } from "../helpers/process.ts";

interface Ctx {
  cluster: Member[];
  fresh: Member[];
}

const WITH_APP = { appMigrations: APP_MIGRATIONS };
const test = suite<Ctx>("removed member end to end");

test.before(async (ctx) => {
  const list = await Promise.all(
    ["r1", "r2", "r3"].map(async (n) => startApp(await newMember(n), WITH_APP)),
  );
  ctx.cluster = await bootstrapAndJoin(list);
  ctx.fresh = [];
});

test.after(async (ctx) => {
  await stopMembers([...(ctx.cluster ?? []), ...(ctx.fresh ?? [])]);
});

/** One SQL statement's single value on `m` (`cohort sql`, table output). */
async function sqlValue(m: Member, query: string): Promise<string> {
  const r = await run(m, ["sql", query]);
  if (r.code !== 0) throw new Error(`sql on ${m.name}: ${r.stderr}`);
  return r.stdout.trim().split("\n")[1]?.trim() ?? "";
}

test("a member force-removed while down never opens on restart: no onStart, no app endpoint, never listed as a member; it resets at once to a fresh state directory", async (ctx) => {
  const [r1, , r3] = ctx.cluster;
  // App data and a token every member holds, so the reset has something to leave behind.
  await run(r3, ["sql", "INSERT INTO widgets (name) VALUES ('w1')"]);
  const token = await run(r1, ["tokens", "add", "later"]);
  assert.is(token.code, 0, token.stderr);
  const hash = await eventually("r1 to store the token", async () => {
    const value = await sqlValue(r1, "SELECT secret_hash FROM core_token_records");
    return /^[0-9a-f]{64}$/.test(value) ? value : undefined;
  });
  await eventually("r3 to store the token", async () => {
    return (await sqlValue(r3, "SELECT count(*) FROM core_token_records")) === "1";
  });
  const r1Certificate = stateFile(r1, "server.crt");

  await kill(r3);
  const removed = await run(r1, ["cluster", "remove", "r3", "--force"]);
  assert.is(removed.code, 0, removed.stderr);

  // Restart r3 and watch it from its control socket until it is clean.
  const started = Date.now();
  const daemon = spawnApp(r3, WITH_APP);
  await waitForSocket(r3.dir, daemon);
  const served = new Set<string>();
  await eventually(
    "r3 to reset",
    async () => {
      const hello = await api(r3, "GET", "/app/hello");
      if (hello.status === 200) served.add("GET /app/hello answered 200");
      const list = await api(r3, "GET", "/core/1.0/cluster");
      if (list.status === 200) {
        const self = list.body.metadata.find((e: { name: string }) => e.name === "r3");
        if (self) served.add(`r3 listed itself ${self.status} ${self.role}`);
      }
      return isClean(r3) && logged(r3, "this member is uninitialized again").length > 0;
    },
    30_000,
    20,
  );
  const took = Date.now() - started;

  assert.equal([...served], [], "r3 served as a member after its removal");
  assert.equal(hookLines(r3, "onStart"), [], "onStart ran on a removed member");
  const online = logged(r3, "Daemon started").filter((l) => l.status === "online");
  assert.equal(online, [], "r3 logged itself online");
  // No bound on `took`: it includes the process's start-up, which a loaded machine stretches
  // past any fixed figure. The defect it guards against shows above: a member that learnt of
  // its removal only later served, listed itself and logged itself online meanwhile.
  console.log(`r3 reset ${took} ms after its restart began`);

  // The reset state directory equals a fresh member's: same tables, same migrations, no rows.
  await stop(r3);
  const fresh = await startApp(await newMember("fresh"), WITH_APP);
  ctx.fresh.push(fresh);
  await stop(fresh);
  const [after, baseline] = await Promise.all([
    databaseSummary(r3.dir),
    databaseSummary(fresh.dir),
  ]);
  assert.equal(after, baseline);
  // Nothing of the cluster it left stays readable in its database files.
  const bytes = databaseBytes(r3.dir);
  assert.is(bytes.indexOf(hash), -1, "a token hash stays in r3's database files");
  const certBody = r1Certificate.split("\n")[1];
  assert.is(bytes.indexOf(certBody), -1, "r1's certificate stays in r3's database files");
});

test("the reset member joins again with a new token and serves", async (ctx) => {
  const [r1, r2, r3] = ctx.cluster;
  await startApp(r3, WITH_APP);
  const token = await run(r1, ["tokens", "add", "r3"]);
  assert.is(token.code, 0, token.stderr);
  const joined = await run(r3, ["init", "r3", r3.address, "--token", token.stdout.trim()]);
  assert.is(joined.code, 0, joined.stderr);
  await eventually("r3 listed ONLINE by r1 and r2", async () => {
    for (const m of [r1, r2]) {
      const list = (await api(m, "GET", "/core/1.0/cluster")).body.metadata;
      const e = list.find((x: { name: string }) => x.name === "r3");
      if (e?.status !== "ONLINE") return false;
    }
    return true;
  });
  const hello = await api(r3, "GET", "/app/hello");
  assert.is(hello.status, 200);
  assert.is(hookLines(r3, "onStart").length, 1, "onStart ran once, at the daemon's start");
});

test.run();
