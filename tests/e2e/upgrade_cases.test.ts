/**
 * End to end, with real member daemons on loopback: the rolling-upgrade cases around the main
 * path of upgrade.test.ts. A diverged extension list is refused (and shown as a refused start on
 * the other side, which keeps counting the member with what it last ran); a member down for
 * longer than `--upgrade-dead-grace` stops blocking the upgrade and is told it is behind when it
 * returns; the `mixed` policy serves with the cluster's common extensions and grows them when
 * the last member upgrades; and an upgrade of app migrations only, of extensions only, or of
 * both in one release makes the member wait once, not twice. The clusters are formed in
 * parallel once; each test uses its own.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { appFolder } from "../store/helpers.ts";
import {
  api,
  APP_MIGRATIONS,
  type Entry,
  eventually,
  EXTENSIONS,
  type Member,
  members,
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
  type UpgradeStart,
} from "../helpers/upgrade.ts";

interface Ctx {
  diverged: Member[];
  dead: Member[];
  mixed: Member[];
  migrations: Member[];
  extensions: Member[];
  both: Member[];
  dir: string;
  /** The app migrations fixture plus one migration. */
  newMigrations: string;
}

const NEW = [...EXTENSIONS, "feature_c"];
// Longer than a member's restart takes on a loaded machine (a stop and a start of a few seconds
// each): with 2 s, the member restarting beside the one left down was excluded too.
const GRACE_MS = 10_000;
const GRACE = ["--upgrade-dead-grace", `${GRACE_MS / 1000}s`];
const MIXED = ["--upgrade-policy", "mixed"];
const WITH_APP: UpgradeStart = { appMigrations: APP_MIGRATIONS };
const test = suite<Ctx>("rolling upgrade cases");

test.before(async (ctx) => {
  ctx.dir = tempDir("cohort-upgrade-cases-");
  ctx.newMigrations = appFolder(ctx.dir, {
    extra: { "0002_add_size": "ALTER TABLE `widgets` ADD `size` integer;" },
  });
  [ctx.diverged, ctx.dead, ctx.mixed, ctx.migrations, ctx.extensions, ctx.both] = await Promise
    .all([
      formWith(["d1", "d2"]),
      formWith(["g1", "g2", "g3"], { flags: GRACE }),
      formWith(["x1", "x2", "x3"], { flags: MIXED }),
      formWith(["a1", "a2"], WITH_APP),
      formWith(["e1", "e2"], WITH_APP),
      formWith(["b1", "b2"], WITH_APP),
    ]);
});

test.after(async (ctx) => {
  const all = [ctx.diverged, ctx.dead, ctx.mixed, ctx.migrations, ctx.extensions, ctx.both];
  await stopMembers(all.flat().filter(Boolean));
  removeDir(ctx.dir);
});

/** Waits until `m` exits; returns its exit code. */
async function refused(m: Member, options: UpgradeStart): Promise<number> {
  spawnMember(m, options);
  return await exitOf(m.daemon!, `${m.name}'s refused start`);
}

function allReady(list: Member[]): Promise<unknown> {
  return eventually(`${list.map((m) => m.name)} ready`, async () => {
    for (const m of list) if (!(await isReady(m))) throw new Error(`${m.name} not ready`);
    return true;
  });
}

test("a diverged list is refused, and the other side shows the refused start but keeps counting the member with what it last ran: its own restart opens", async ({ diverged }) => {
  const [d1, d2] = diverged;
  await stop(d1);
  // Same length, different last entry: neither list is a prefix of the other.
  const code = await refused(d1, { extensions: ["feature_a", "feature_x"] });
  assert.is(code, 1, d1.daemon!.logs());
  assert.match(
    d1.daemon!.logs(),
    `This member's versions diverged from other members': "d2" (extensions: lacks "feature_b"; has "feature_x" that the other lacks)`,
  );
  // d2 keeps serving; it shows why d1 was refused, and still counts d1 with its old list.
  const entry = await eventually("d2 shows d1's refused start", async () => {
    const e = (await members(d2)).find((x: Entry) => x.name === "d1");
    return e?.start_refused ? e : undefined;
  });
  assert.equal(entry.extensions, ["internal:runtime_extension_v1", ...EXTENSIONS]);
  assert.equal(entry.start_refused.extensions, [
    "internal:runtime_extension_v1",
    "feature_a",
    "feature_x",
  ]);
  assert.match(entry.start_refused.reason, `diverged from other members': "d2"`);
  const report = (await api(d2, "GET", "/core/1.0/extensions")).body.metadata;
  assert.is(report.members.d1.verdict, "equal");
  const upgrade = (await api(d2, "GET", "/core/1.0/upgrade")).body.metadata;
  assert.is(upgrade.complete, true, JSON.stringify(upgrade));
  assert.equal(upgrade.refused.map((r: { name: string }) => r.name), ["d1"]);
  await stop(d2);
  await startWith(d2, {});
  assert.ok(await isReady(d2), d2.daemon!.logs());
});

test("a member down for longer than --upgrade-dead-grace is excluded (logged and shown in the upgrade status); on its return with old versions it is told it is behind", async ({ dead }) => {
  const [g1, g2, g3] = dead;
  await stop(g1);
  await startWith(g1, { extensions: NEW, flags: GRACE });
  assert.is(await isReady(g1), false, "g2 and g3 are up and behind: g1 waits for them");
  // g3 goes down while g1 waits: only the grace period running out, not a gossip event, can
  // let g1 stop waiting for it.
  await stop(g3);
  await stop(g2);
  const restarted = Date.now();
  await startWith(g2, { extensions: NEW, flags: GRACE });
  await allReady([g1, g2]);
  const took = Date.now() - restarted;
  assert.ok(took < 2 * GRACE_MS, `opened ${took} ms after g2's restart (grace ${GRACE_MS} ms)`);
  for (const m of [g1, g2]) {
    const excluded = logged(m, "grace period").filter((l) => l.member === "g3");
    assert.is(excluded.length, 1, `${m.name} logs g3's exclusion once:\n${m.daemon!.logs()}`);
    const status = (await api(m, "GET", "/core/1.0/upgrade")).body.metadata;
    assert.equal(status.excluded, ["g3"], JSON.stringify(status));
  }
  const opening = logged(g1, "opening");
  assert.is(opening.length, 1);
  assert.equal(opening[0].excluded, ["g3"]);
  assert.ok(opening[0].waited_ms >= 2000, `g1 waited ${opening[0].waited_ms} ms`);
  assert.is(await refused(g3, { flags: GRACE }), 1, g3.daemon!.logs());
  assert.match(
    g3.daemon!.logs(),
    `This member's version is behind, please upgrade: members ahead: "g1" (extensions: lacks "feature_c"), "g2" (extensions: lacks "feature_c")`,
  );
});

test("mixed serves at once with the common list, which lacks the new extension until the last member upgrades", async ({ mixed }) => {
  const [x1, x2, x3] = mixed;
  const cluster = async (m: Member) =>
    (await api(m, "GET", "/core/1.0/extensions")).body.metadata.cluster as string[];
  const OLD_FULL = ["internal:runtime_extension_v1", ...EXTENSIONS];
  const NEW_FULL = [...OLD_FULL, "feature_c"];
  for (const [i, m] of [x1, x2].entries()) {
    await stop(m);
    await startWith(m, { extensions: NEW, flags: MIXED });
    assert.ok(await isReady(m), `${m.name} serves at once under mixed`);
    const upgraded = mixed.slice(0, i + 1);
    for (const o of mixed) {
      await eventually(`${o.name} sees ${upgraded.map((u) => u.name)} upgraded`, async () => {
        const view = await members(o);
        return upgraded.every((u) =>
          view.find((e: Entry) => e.name === u.name)?.extensions.length === NEW_FULL.length
        );
      });
      assert.equal(await cluster(o), OLD_FULL, `${o.name}'s common list`);
    }
    const local = (await api(m, "GET", "/core/1.0/extensions")).body.metadata.local;
    assert.equal(local, NEW_FULL);
  }
  await stop(x3);
  await startWith(x3, { extensions: NEW, flags: MIXED });
  for (const o of mixed) {
    await eventually(`${o.name}'s common list grows`, async () => {
      const list = await cluster(o);
      return list.length === NEW_FULL.length && list.every((e, i) => e === NEW_FULL[i]);
    });
  }
  // The members that served all along are told the common list grew (the app's cue to turn the
  // new feature on), once, naming the new extension.
  for (const o of [x1, x2]) {
    const grew = await eventually(`${o.name} logs that the common list grew`, () => {
      const lines = logged(o, "The extensions common to every member grew");
      return Promise.resolve(lines.length ? lines : undefined);
    });
    assert.is(grew.length, 1, `${o.name} reports the growth once`);
    assert.equal(grew[0].added, ["feature_c"]);
  }
  await allReady(mixed);
});

/** Restarts `first` upgraded (it waits), then `second` (all open); checks one wait each. */
async function upgradeOnce(pair: Member[], upgraded: UpgradeStart): Promise<void> {
  const [first, second] = pair;
  await stop(first);
  await startWith(first, upgraded);
  assert.is(await isReady(first), false, `${first.name} waits for ${second.name}`);
  const want = `${first.name}:UPGRADING,${second.name}:NEEDS UPGRADE`;
  await eventually(`${want} on both`, async () => {
    for (const m of pair) {
      const got = await statuses(m);
      if (got !== want) throw new Error(`${m.name} shows ${got}`);
    }
    return true;
  });
  await stop(second);
  await startWith(second, upgraded);
  await allReady(pair);
  assert.is(logged(first, "Waiting for other cluster members").length, 1, first.daemon!.logs());
  assert.is(logged(first, "opening").length, 1, first.daemon!.logs());
  assert.is(logged(second, "Waiting for other cluster members").length, 0, second.daemon!.logs());
  assert.is(logged(second, "opening").length, 0, second.daemon!.logs());
  const view = await members(first);
  assert.equal(view.map((e: Entry) => e.status), ["ONLINE", "ONLINE"]);
}

test("an upgrade of app migrations only: the first member waits once and opens once", async (ctx) => {
  await upgradeOnce(ctx.migrations, { appMigrations: ctx.newMigrations });
  const view = await members(ctx.migrations[0]);
  assert.equal(view.map((e: Entry) => e.schema_external_version), [3, 3]);
});

test("an upgrade of extensions only: the first member waits once and opens once", async (ctx) => {
  await upgradeOnce(ctx.extensions, { appMigrations: APP_MIGRATIONS, extensions: NEW });
  const view = await members(ctx.extensions[0]);
  assert.equal(view.map((e: Entry) => e.schema_external_version), [2, 2]);
});

test("an upgrade of app migrations and extensions in one release: one wait, not two", async (ctx) => {
  await upgradeOnce(ctx.both, { appMigrations: ctx.newMigrations, extensions: NEW });
  const view = await members(ctx.both[0]);
  assert.equal(view.map((e: Entry) => e.schema_external_version), [3, 3]);
  assert.equal(view.map((e: Entry) => e.extensions.length), [4, 4]);
});

test.run();
