/**
 * End to end, with real member daemons on loopback: a 3-member rolling upgrade under the
 * default `strict` policy. The first two upgraded members wait (visibly, on every member), an
 * un-upgraded member restarted mid-upgrade is refused with what it lacks, the update trigger of
 * the un-upgraded members runs once with the new target, and restarting the last member upgraded
 * opens all three.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { extensionDigest } from "../../lib/cluster/extensions.ts";
import {
  api,
  type Entry,
  eventually,
  EXTENSIONS,
  FULL_EXTENSIONS,
  type Member,
  members,
  sql,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { exitOf, removeDir, tempDir } from "../helpers/process.ts";
import {
  formWith,
  isReady,
  logged,
  spawnMember,
  startWith,
  statuses,
  updateScript,
} from "../helpers/upgrade.ts";

interface Ctx {
  r: Member[];
  /** Holds the update command and each member's output file. */
  dir: string;
}

const NEW = [...EXTENSIONS, "feature_c"];
const test = suite<Ctx>("rolling upgrade under strict");

/** The environment of an un-upgraded member: the update command writes to `<dir>/<name>.out`. */
const updateEnv = (dir: string, name: string) => ({
  COHORT_CLUSTER_UPDATE: updateScript(dir, join(dir, `${name}.out`)),
  COHORT_CLUSTER_UPDATE_DELAY: "0",
});

test.before(async (ctx) => {
  ctx.dir = tempDir("cohort-upgrade-");
  // One script per member, so each member's runs land in its own file.
  ctx.r = await formWith(["r1", "r2", "r3"], (name) => {
    const sub = join(ctx.dir, name);
    mkdirSync(sub);
    return { env: updateEnv(sub, name) };
  });
});

test.after(async (ctx) => {
  await stopMembers(ctx.r ?? []);
  removeDir(ctx.dir);
});

/** The lines the update command of `name` wrote (empty when it never ran). */
function updateRuns(ctx: Ctx, name: string): string[] {
  try {
    return readFileSync(join(ctx.dir, name, `${name}.out`), "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/** Waits until every member in `on` shows exactly `want` (`name:STATUS,...`). */
function everyMemberShows(on: Member[], want: string): Promise<unknown> {
  return eventually(`${want} on ${on.map((m) => m.name)}`, async () => {
    for (const m of on) {
      const got = await statuses(m);
      if (got !== want) throw new Error(`${m.name} shows ${got}`);
    }
    return true;
  });
}

test("the first upgraded member waits: ready false, UPGRADING / NEEDS UPGRADE on every member, 503 naming both members behind", async ({ r }) => {
  const [r1, r2, r3] = r;
  await stop(r1);
  await startWith(r1, { extensions: NEW });
  await everyMemberShows(r, "r1:UPGRADING,r2:NEEDS UPGRADE,r3:NEEDS UPGRADE");
  assert.is(await isReady(r1), false);
  assert.ok(await isReady(r2), "r2 has not upgraded and keeps serving");
  assert.ok(await isReady(r3), "r3 has not upgraded and keeps serving");
  // The waiting member says what each member behind lacks: the extensions it has (`extra`,
  // from its own side) that the other does not.
  const view = await members(r1);
  for (const name of ["r2", "r3"]) {
    const e = view.find((x: Entry) => x.name === name)!;
    assert.equal(e.extension_verdict, { verdict: "ahead", missing: [], extra: ["feature_c"] });
  }
  const ready = await api(r1, "GET", "/core/1.0/ready");
  assert.is(ready.status, 503);
  assert.match(ready.body.error, /"r2", "r3"/, ready.body.error);
  const refused = await sql(r1, "SELECT 1");
  assert.is(refused.status, 503);
  assert.is(
    refused.body.error,
    'Database is waiting for an upgrade: 2 members have not upgraded yet: "r2", "r3"',
  );
  assert.is((await sql(r2, "SELECT 1")).status, 200);
});

test("the second upgraded member waits too; the un-upgraded member still serves and shows both as UPGRADING", async ({ r }) => {
  const [r1, r2, r3] = r;
  await stop(r2);
  await startWith(r2, { extensions: NEW });
  await everyMemberShows(r, "r1:UPGRADING,r2:UPGRADING,r3:NEEDS UPGRADE");
  assert.is(await isReady(r1), false);
  assert.is(await isReady(r2), false);
  assert.ok(await isReady(r3));
  for (const m of [r1, r2]) {
    const refused = await sql(m, "SELECT 1");
    assert.is(refused.status, 503);
    assert.is(
      refused.body.error,
      'Database is waiting for an upgrade: 1 member has not upgraded yet: "r3"',
    );
  }
  assert.is((await sql(r3, "SELECT 1")).status, 200);
});

test("the update trigger ran once on each un-upgraded member, with the new target, and not again after further gossip", async (ctx) => {
  const [r1] = ctx.r;
  const { target } = (await api(r1, "GET", "/core/1.0/upgrade")).body.metadata;
  const key = `${target.schema_internal}/${target.schema_external}/${
    extensionDigest(["internal:runtime_extension_v1", ...NEW])
  }`;
  assert.is(target.extensions, FULL_EXTENSIONS.length + 1);
  // r3 saw r1 and then r2 ahead with the same target; r2 saw r1 ahead before it upgraded.
  await eventually("r3's update command ran", () => Promise.resolve(updateRuns(ctx, "r3").length));
  await new Promise((done) => setTimeout(done, 1500));
  assert.equal(updateRuns(ctx, "r3"), [key]);
  assert.equal(updateRuns(ctx, "r2"), [key]);
  assert.equal(updateRuns(ctx, "r1"), []);
  assert.is(logged(ctx.r[2], "Cluster update command succeeded").length, 1);
});

test("an un-upgraded member restarted mid-upgrade is refused: exit 1, naming the extension it lacks on each member ahead", async ({ r }) => {
  const [, , r3] = r;
  await stop(r3);
  spawnMember(r3, { extensions: EXTENSIONS });
  const code = await exitOf(r3.daemon!, "r3's refused start");
  assert.is(code, 1, r3.daemon!.logs());
  assert.match(
    r3.daemon!.logs(),
    `This member's version is behind, please upgrade: members ahead: "r1" (extensions: lacks "feature_c"), "r2" (extensions: lacks "feature_c")`,
  );
});

test("restarting the last member upgraded opens all three; each waiting member logs one opening line with waited_ms", async ({ r }) => {
  const [r1, r2, r3] = r;
  await startWith(r3, { extensions: NEW });
  await eventually("every member ready", async () => {
    for (const m of r) if (!(await isReady(m))) throw new Error(`${m.name} not ready`);
    return true;
  });
  await everyMemberShows(r, "r1:ONLINE,r2:ONLINE,r3:ONLINE");
  for (const m of [r1, r2]) {
    const lines = logged(m, "opening");
    assert.is(lines.length, 1, `${m.name}: ${JSON.stringify(lines)}`);
    assert.type(lines[0].waited_ms, "number");
    assert.ok(lines[0].waited_ms > 0);
  }
  assert.is(logged(r3, "Waiting for other cluster members").length, 0);
  assert.is(logged(r3, "opening").length, 0);
  assert.is((await sql(r1, "SELECT 1")).status, 200);
});

test.run();
