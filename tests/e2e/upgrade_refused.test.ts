/**
 * End to end, with real member daemons on loopback driven through the CLI: a refused start
 * poisons nobody's gate. A member counts, for every member's gate, with the versions it last ran
 * with (it opened or waited with them); a refused attempt stays visible as "start refused at T
 * with versions …: reason" in `cluster list`, `GET /core/1.0/upgrade` and `cohort upgrade status`
 * until that member next runs, and applies nothing to its own store. A member that waited and is
 * rolled back to its old binary counts with its old versions again, as in MicroCluster. A waiting
 * member answers every refused request, join tokens included, with the waiting message naming
 * the members not yet upgraded.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { createClient } from "@libsql/client";
import { join } from "node:path";
import { appFolder } from "../store/helpers.ts";
import {
  api,
  APP_MIGRATIONS,
  eventually,
  type Member,
  members,
  run,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { exitOf, removeDir, tempDir } from "../helpers/process.ts";
import {
  formWith,
  isReady,
  spawnMember,
  startWith,
  type UpgradeStart,
} from "../helpers/upgrade.ts";

interface Ctx {
  m: Member[];
  q: Member[];
  dir: string;
  /** The app migrations fixture plus one migration. */
  newMigrations: string;
}

const test = suite<Ctx>("refused starts end to end");
const ALPHA = ["alpha_one"];
const BETA = ["alpha_one", "beta_two"];
const GAMMA = ["alpha_one", "gamma_three"];

test.before(async (ctx) => {
  ctx.dir = tempDir("cohort-refused-");
  ctx.newMigrations = appFolder(ctx.dir, {
    extra: { "0002_add_size": "ALTER TABLE `widgets` ADD `size` integer;" },
  });
  [ctx.m, ctx.q] = await Promise.all([
    formWith(["m1", "m2", "m3"], { extensions: ALPHA }),
    formWith(["q1", "q2"], { extensions: ["feature_a"], appMigrations: APP_MIGRATIONS }),
  ]);
});

test.after(async (ctx) => {
  await stopMembers([...(ctx.m ?? []), ...(ctx.q ?? [])]);
  removeDir(ctx.dir);
});

/** Starts `m` and waits until it exits; returns its exit code. */
async function refused(m: Member, options: UpgradeStart): Promise<number> {
  spawnMember(m, options);
  return await exitOf(m.daemon!, `${m.name}'s refused start`);
}

/** The entry of `name` in `on`'s `cluster list -f json`. */
async function listed(on: Member, name: string) {
  const r = await run(on, ["cluster", "list", "-f", "json"]);
  if (r.code !== 0) throw new Error(`cluster list on ${on.name}: ${r.stderr}`);
  return JSON.parse(r.stdout).find((e: { name: string }) => e.name === name);
}

/** The number of app migrations a stopped member's store has applied. */
async function appliedAppMigrations(m: Member): Promise<number> {
  const client = createClient({ url: `file:${join(m.dir, "database", "cohort.db")}` });
  try {
    const rs = await client.execute("SELECT count(*) FROM __cohort_app_migrations");
    return Number(rs.rows[0][0]);
  } finally {
    client.close();
  }
}

test("a refused start changes no other member's verdict, stays visible until the member runs, and the cluster completes the upgrade", async ({ m }) => {
  const [m1, m2, m3] = m;
  await stop(m1);
  await startWith(m1, { extensions: BETA });
  assert.is(await isReady(m1), false, "m1 waits for m2 and m3");

  // Defect 4: a waiting member answers token requests with the waiting message.
  for (const argv of [["tokens", "add", "m9"], ["tokens", "list"]]) {
    const r = await run(m1, argv);
    assert.is.not(r.code, 0, `${argv.join(" ")} on a waiting member`);
    assert.match(
      r.stderr,
      `Database is waiting for an upgrade: 2 members have not upgraded yet: "m2", "m3"`,
    );
    assert.not.match(r.stderr, "not yet initialized");
  }

  await stop(m3);
  assert.is(await refused(m3, { extensions: ALPHA }), 1, "m3 behind m1 is refused");
  assert.is(await refused(m3, { extensions: GAMMA }), 1, "m3 diverged from m1 is refused");
  assert.match(m3.daemon!.logs(), "diverged");

  // Everyone still counts m3 with what it last ran, and shows the refused attempt.
  for (const on of [m1, m2]) {
    const e = await eventually(`${on.name} shows m3's refused start`, async () => {
      const entry = await listed(on, "m3");
      return entry?.start_refused ? entry : undefined;
    });
    assert.equal(e.extensions, ["internal:runtime_extension_v1", ...ALPHA], `${on.name}: m3`);
    assert.equal(e.start_refused.extensions, ["internal:runtime_extension_v1", ...GAMMA]);
    assert.match(e.start_refused.reason, "diverged");
    assert.match(e.start_refused.summary, /^start refused at \d{4}-\d\d-\d\dT.* with versions /);
    const upgrade = (await api(on, "GET", "/core/1.0/upgrade")).body.metadata;
    const r = upgrade.refused.find((x: { name: string }) => x.name === "m3");
    assert.ok(r, `${on.name}: GET /core/1.0/upgrade lists m3's refused start`);
    assert.match(r.summary, "start refused at");
    const status = await run(on, ["upgrade", "status"]);
    assert.is(status.code, 0, status.stderr);
    assert.match(status.stdout, /m3: start refused at \S+ with versions .*: .*diverged/);
  }

  // m2 upgrades: it waits for m3 (down, last ran alpha_one) instead of being refused.
  await stop(m2);
  await startWith(m2, { extensions: BETA });
  assert.is(await isReady(m2), false, "m2 waits for m3");

  // m3 upgrades too: every member opens.
  await startWith(m3, { extensions: BETA });
  await eventually("m1, m2, m3 ready", async () => {
    for (const x of m) if (!(await isReady(x))) throw new Error(`${x.name} not ready`);
    return true;
  }, 20_000);
  // m3 ran again: its refused attempt is no longer shown anywhere.
  for (const on of m) {
    await eventually(`${on.name} drops m3's refused start`, async () => {
      const entry = await listed(on, "m3");
      const upgrade = (await api(on, "GET", "/core/1.0/upgrade")).body.metadata;
      return !entry.start_refused && upgrade.refused.length === 0;
    });
  }
  const view = await members(m1);
  assert.equal(view.map((e) => e.status), ["ONLINE", "ONLINE", "ONLINE"]);
});

test("a refused start applies no app migration; the member that waited opens when rolled back to its old binary, as MicroCluster does", async (ctx) => {
  const [q1, q2] = ctx.q;
  const newer = { appMigrations: ctx.newMigrations };
  await stop(q1);
  await startWith(q1, { extensions: ["feature_a", "feature_b", "feature_c"], ...newer });
  assert.is(await isReady(q1), false, "q1 waits for q2");

  await stop(q2);
  assert.is(await appliedAppMigrations(q2), 2);
  const code = await refused(q2, { extensions: ["feature_a", "feature_b"], ...newer });
  assert.is(code, 1, q2.daemon!.logs());
  assert.match(q2.daemon!.logs(), `members ahead: "q1"`);
  assert.is(await appliedAppMigrations(q2), 2, "the refused start applied an app migration");

  // q1 rolled back to its old binary: q2 last ran feature_a, so q1 opens.
  await stop(q1);
  await startWith(q1, { extensions: ["feature_a"], appMigrations: APP_MIGRATIONS });
  assert.is(await isReady(q1), true, q1.daemon!.logs());
  await startWith(q2, { extensions: ["feature_a"], appMigrations: APP_MIGRATIONS });
  assert.is(await isReady(q2), true, q2.daemon!.logs());
  await eventually("q1 and q2 ONLINE on both", async () => {
    for (const on of ctx.q) {
      const view = await members(on);
      if (view.some((e) => e.status !== "ONLINE")) return false;
    }
    return true;
  });
});

test.run();
