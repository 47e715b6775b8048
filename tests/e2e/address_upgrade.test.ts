/**
 * A cluster formed by the release before addresses had one spelling (e444d00), whose members
 * were initialised at spellings that release stored as typed and this one refuses or rewrites
 * (`127.0.0.1:0P`, `LOCALHOST:P`, `127.000.000.001:P`, `[::ffff:127.0.0.1]:P`,
 * `[0:0:0:0:0:0:0:1]:P`), upgraded to this build member by member, as an operator does: real
 * daemons, the earlier release run from its git tree under Deno, this build under the test's
 * runtime. Before, every token carried the stored spellings and a joiner of this build refused
 * the whole token (`join_addresses.0 port must be … without … leading zeros`), and a joiner could
 * take the socket of a stopped member by naming its address in the one spelling
 * (`127.0.0.1:P` for `127.0.0.1:0P`): both sides listed two members at one address. Also played:
 * the mixed cluster meanwhile (an old member's token, an old member's news), an old member killed
 * and started on this build at once, a removal and restarts. An upgraded member rewrites what it
 * owns in the one spelling (its `daemon.json`, its store's member rows, its own roster record,
 * which the old members take); a record another member signed stays as written.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  allOnline,
  daemonArgs,
  daemonsLastLines,
  decode,
  eventually,
  isClean,
  issueToken,
  kill,
  logLines,
  type Member,
  members,
  newMember,
  run,
  sql,
  startMember,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { type EarlierRelease, earlierRelease, lowPort } from "../helpers/earlier_release.ts";

interface Ctx {
  old: EarlierRelease;
  /** a to e, each at the spelling its earlier release stored; `address` is its one spelling. */
  list: Member[];
}

const all: Member[] = [];
const test = suite<Ctx>(
  "addresses an earlier release stored",
  undefined,
  () => daemonsLastLines(all),
);

/** A member of the earlier release, initialised at `typed` (`P` stands for its port). */
async function member(name: string, typed: string, one: string, port?: number) {
  const m = await newMember(name);
  if (port !== undefined) m.port = port;
  m.address = one.replace("P", `${m.port}`);
  all.push(m);
  return { m, typed: typed.replace("P", `${m.port}`) };
}

test.before(async (ctx) => {
  ctx.old = earlierRelease("e444d00");
  const spelled = [
    // Below 10000: that release's gossip took ports of at most five digits.
    await member("au-a", "127.0.0.1:0P", "127.0.0.1:P", await lowPort()),
    await member("au-b", "LOCALHOST:P", "localhost:P"),
    await member("au-c", "127.000.000.001:P", "127.0.0.1:P"),
    await member("au-d", "[::ffff:127.0.0.1]:P", "127.0.0.1:P"),
    await member("au-e", "[0:0:0:0:0:0:0:1]:P", "[::1]:P"),
  ];
  ctx.list = spelled.map((s) => s.m);
  await Promise.all(ctx.list.map((m) => ctx.old.start(m, daemonArgs(m))));
  const [first, ...rest] = spelled;
  const boot = await ctx.old.run(first.m, ["init", first.m.name, first.typed, "--bootstrap"]);
  assert.is(boot.code, 0, boot.stderr);
  for (const { m, typed } of rest) {
    const token = await issueToken(first.m, m.name);
    const r = await ctx.old.run(m, ["init", m.name, typed, "--token", token]);
    assert.is(r.code, 0, `${m.name} at ${typed}: ${r.stderr}`);
  }
  await allOnline(ctx.list, ctx.list.map((m) => m.name), 60_000);
  // As that release stored them.
  const listed = (await members(first.m)).map((e) => e.address);
  assert.equal(listed, spelled.map((s) => s.typed));
});

test.after(async (ctx) => {
  await stopMembers(all);
  ctx.old?.remove();
});

/** Restarts `m` on this build (a graceful stop first, as an operator's upgrade). */
async function upgrade(m: Member): Promise<void> {
  await stop(m);
  await startMember(m);
}

test("mixed: the first member upgraded and the others see each other, and an old member's token admits a joiner of this build", async ({ list }) => {
  const [a, b] = list;
  await upgrade(a);
  await allOnline(list, list.map((m) => m.name), 60_000);
  const j1 = await newMember("au-j1");
  all.push(j1);
  await startMember(j1);
  // a rewrote its own record at its start, in the one spelling: b takes it.
  await eventually(
    "b holding a's record in the one spelling",
    async () => (await members(b)).find((x) => x.name === a.name)?.address === a.address,
    60_000,
  );
  const token = await issueToken(b, j1.name); // by a member of the earlier release
  const addresses: string[] = decode(token).join_addresses;
  // c's as b stored it, a's as a rewrote it.
  assert.ok(addresses.includes(`127.000.000.001:${list[2].port}`), addresses.join(" "));
  assert.ok(addresses.includes(`127.0.0.1:${a.port}`), addresses.join(" "));
  assert.not.ok(addresses.includes(`127.0.0.1:0${a.port}`), addresses.join(" "));
  const r = await run(j1, ["init", j1.name, j1.address, "--token", token]);
  assert.is(r.code, 0, r.stderr);
  list.push(j1);
  await allOnline(list, list.map((m) => m.name), 60_000);
});

test("upgraded members list every address in its one spelling, an old member's too, and so do their tokens", async ({ list }) => {
  const [a, b, c, d, e, j1] = list;
  for (const m of [b, c, e]) await upgrade(m); // d stays on the earlier release (next test)
  await allOnline(list, list.map((m) => m.name), 60_000);
  const want = list.map((m) => `${m.name} ${m.address}`).sort();
  const tokens = new Map<Member, string>();
  for (const m of [a, b, c, e, j1]) {
    const got = (await members(m)).map((x) => `${x.name} ${x.address}`).sort();
    assert.equal(got, want, `as ${m.name} sees it`);
    tokens.set(m, await issueToken(m, `au-t-${m.name}`));
    const addresses = decode(tokens.get(m)!).join_addresses.sort();
    assert.equal(addresses, list.map((x) => x.address).sort(), `${m.name}'s token`);
  }
  const j2 = await newMember("au-t-au-a");
  all.push(j2);
  await startMember(j2);
  const joined = await run(j2, ["init", j2.name, j2.address, "--token", tokens.get(a)!]);
  assert.is(joined.code, 0, joined.stderr);
  list.push(j2);
  await allOnline(list, list.map((m) => m.name), 60_000);
  const listed = await run(a, ["cluster", "list"]);
  assert.is(listed.code, 0, listed.stderr);
  for (const m of list) {
    const row = new RegExp(`^${m.name} +${m.address.replace(/[.[\]]/g, "\\$&")} `, "m");
    assert.match(listed.stdout, row, m.name);
  }
  assert.ok(d.daemon, "d still runs the earlier release");
});

/** What an upgraded member logs when it rewrote what an earlier release stored. */
const REWROTE = /^Rewrote the addresses an earlier release stored/;

/** The rows `query` answers on `m` (`cohort sql`), each a list of its columns. */
async function rows(m: Member, query: string): Promise<unknown[][]> {
  const res = await sql(m, query);
  assert.is(res.status, 200, JSON.stringify(res.body));
  return res.body.metadata.results[0].rows;
}

/** The live roster records `m` stores, as `[name, address as written]`, by name. */
function memberRecords(m: Member): Promise<unknown[][]> {
  return rows(
    m,
    "SELECT key, json_extract(value, '$.address') FROM core_records " +
      "WHERE kind = 'member' AND value IS NOT NULL ORDER BY key",
  );
}

test("upgraded members hold the one spelling where they own it, and old members take their records", async ({ old, list }) => {
  const d = list[3]; // still the earlier release: its record, signed as typed, stays so
  const upgraded = list.filter((m) => m !== d);
  const typed = `[::ffff:127.0.0.1]:${d.port}`;
  const byName = [...list].sort((x, y) => x.name.localeCompare(y.name));
  for (const m of upgraded) {
    const config = JSON.parse(readFileSync(join(m.dir, "daemon.json"), "utf8"));
    assert.is(config.address, m.address, `${m.name}'s daemon.json`);
    // Once, at its upgrade (j1 and j2 joined on this build: nothing to rewrite).
    const said = logLines(m, REWROTE).length;
    assert.is(said, m.name.startsWith("au-j") || m.name.startsWith("au-t") ? 0 : 1, m.name);
  }
  await eventually("the one spelling in every upgraded member's store", async () => {
    for (const m of upgraded) {
      const held = await rows(m, "SELECT name, address FROM core_cluster_members ORDER BY name");
      assert.equal(held, byName.map((x) => [x.name, x.address]), `${m.name}'s member rows`);
      const records = await memberRecords(m);
      const want = byName.map((x) => [x.name, x === d ? typed : x.address]);
      assert.equal(records, want, `${m.name}'s roster records`);
    }
    return true;
  }, 60_000);
  // The member of the earlier release took the rewritten records (it lists their addresses).
  await eventually("d listing the one spellings", async () => {
    const listed = await old.run(d, ["cluster", "list"]);
    for (const m of upgraded) {
      const row = new RegExp(`^${m.name} +${m.address.replace(/[.[\]]/g, "\\$&")} `, "m");
      assert.match(listed.stdout, row, `${m.name} as d lists it`);
    }
    assert.match(listed.stdout, new RegExp(`${d.name} +${typed.replace(/[.[\]]/g, "\\$&")} `));
    return true;
  }, 60_000);
});

/** Waits until every member of `list` sees `m` ONLINE with app version `version`. */
function appVersionSeen(list: Member[], m: Member, version: string): Promise<unknown> {
  return eventually(`${m.name}'s app version ${version} on every member`, async () => {
    for (const on of list) {
      const seen = (await members(on)).find((x) => x.name === m.name);
      if (seen?.app_version !== version || seen.status !== "ONLINE") {
        throw new Error(`${on.name} sees ${JSON.stringify(seen)}`);
      }
    }
    return true;
  }, 60_000);
}

test("an old member's news reaches the upgraded ones, who hold its address in the one spelling", async ({ old, list }) => {
  const d = list[3]; // announces [::ffff:127.0.0.1]:P, which they hold as 127.0.0.1:P
  const r = await old.run(d, ["app-version", "1.5.0"]);
  assert.is(r.code, 0, r.stderr);
  await appVersionSeen(list, d, "1.5.0");
});

test("an old member killed and started on this build at once is heard at its one spelling", async ({ list }) => {
  const d = list[3];
  await kill(d);
  await startMember(d, { flags: ["--app-version", "2.0.0"] });
  await appVersionSeen(list, d, "2.0.0");
  // It rewrote its own record ([::ffff:127.0.0.1]:P), and every member stores that.
  await eventually("d's record in the one spelling everywhere", async () => {
    for (const m of list) {
      const held = (await memberRecords(m)).find(([name]) => name === d.name);
      assert.equal(held, [d.name, d.address], `as ${m.name} stores it`);
    }
    return true;
  }, 60_000);
});

test("a joiner cannot take a stopped member's socket by naming it in the one spelling", async ({ list }) => {
  const [a, b, c] = list;
  await Promise.all([stop(a), stop(c)]);
  for (const held of [a, c]) {
    const evil = await newMember(`au-x-${held.name}`);
    all.push(evil);
    await startMember(evil);
    const token = await issueToken(b, evil.name);
    const r = await run(evil, ["init", evil.name, held.address, "--token", token]);
    assert.is(r.code, 1, `the join must be refused: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, `Address ${held.address} is already used by member "${held.name}"`);
    assert.ok(isClean(evil), "the refused joiner holds nothing of the cluster");
    await stop(evil);
  }
  await Promise.all([startMember(a), startMember(c)]);
  await allOnline(list, list.map((m) => m.name), 60_000);
});

test("a member at a stored spelling is removed, and the others restart", async ({ list }) => {
  const [, , , d, e] = list;
  const removed = await run(e, ["cluster", "remove", d.name]);
  assert.is(removed.code, 0, removed.stderr);
  await stop(d);
  const rest = list.filter((m) => m !== d);
  await allOnline(rest, rest.map((m) => m.name), 60_000);
  for (const m of rest) await upgrade(m);
  await allOnline(rest, rest.map((m) => m.name), 60_000);
  for (const m of rest) {
    assert.equal(logLines(m, REWROTE), [], `${m.name}: nothing left to rewrite`);
  }
  // Every member upgraded: no spelling of the earlier release left in any state directory.
  const byName = [...rest].sort((x, y) => x.name.localeCompare(y.name));
  for (const m of rest) {
    const held = await rows(m, "SELECT name, address FROM core_cluster_members ORDER BY name");
    assert.equal(held, byName.map((x) => [x.name, x.address]), `${m.name}'s member rows`);
    assert.equal(await memberRecords(m), byName.map((x) => [x.name, x.address]), m.name);
  }
});

test.run();
