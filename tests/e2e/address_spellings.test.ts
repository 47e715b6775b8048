/**
 * One address, several spellings, against real daemons (the test's runtime): IPv6 members beside
 * an IPv4 one in one cluster, each address kept in its one spelling whatever the operator typed
 * (`lib/cluster/address.ts`), spellings that are not one address refused by the CLI and the
 * control endpoint naming the rule, and a joiner refused the address of a member that is down
 * when it spells that address differently (before, it was admitted: two members at one address,
 * and the one that was down could not listen again), nor when it names it with a host name
 * (`localhost:PORT` for a member at 127.0.0.1:PORT); and an IPv6 member removes the IPv4 one.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  allOnline,
  api,
  daemonsLastLines,
  decode,
  isClean,
  issueToken,
  type Member,
  members,
  newMember,
  run,
  startMember,
  startMembers,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";

interface Ctx {
  list: Member[];
}

const all: Member[] = [];
const test = suite<Ctx>("address spellings", undefined, () => daemonsLastLines(all));

/** A member at `[::1]` on its port. */
async function v6(name: string): Promise<Member> {
  const m = await newMember(name);
  m.address = `[::1]:${m.port}`;
  all.push(m);
  return m;
}

test.before(async (ctx) => {
  const [a, b] = [await v6("as-a"), await v6("as-b")];
  const c = await newMember("as-c"); // 127.0.0.1: IPv4 and IPv6 members in one cluster
  all.push(c);
  ctx.list = [a, b, c];
  await Promise.all(ctx.list.map((m) => startMember(m)));
});

test.after(async () => {
  await stopMembers(all);
});

test("members are kept at their address's one spelling, IPv6 beside IPv4", async ({ list }) => {
  const [a, b, c] = list;
  const boot = await run(a, ["init", a.name, `[0:0:0:0:0:0:0:1]:${a.port}`, "--bootstrap"]);
  assert.is(boot.code, 0, boot.stderr);
  assert.is(boot.stdout, `Bootstrapped cohort member "${a.name}" at ${a.address}\n`);
  const token = await issueToken(a, b.name);
  assert.equal(decode(token).join_addresses, [a.address]);
  // The control endpoint itself takes the one spelling (a client other than the CLI).
  const joined = await api(b, "POST", "/core/control", {
    name: b.name,
    address: `[0000::1]:${b.port}`,
    join_token: token,
  }, 60_000);
  assert.is(joined.status, 200, JSON.stringify(joined.body));
  assert.is(joined.body.metadata.address, b.address);
  const r = await run(c, ["init", c.name, c.address, "--token", await issueToken(b, c.name)]);
  assert.is(r.code, 0, r.stderr);
  await allOnline(list, list.map((m) => m.name), 30_000);
  const want = list.map((m) => `${m.name} ${m.address}`).join(", ");
  for (const m of list) {
    const got = (await members(m)).map((e) => `${e.name} ${e.address}`).join(", ");
    assert.is(got, want, `as ${m.name} sees it`);
  }
  const listed = await run(a, ["cluster", "list"]);
  assert.is(listed.code, 0, listed.stderr);
  for (const m of list) assert.match(listed.stdout, `${m.name}  ${m.address}`);
});

test("spellings that are not one address are refused, naming the rule", async () => {
  const [m] = await startMembers(["as-d"]);
  all.push(m);
  const p = m.port;
  const refused: [string, string][] = [
    [`[::ffff:127.0.0.1]:${p}`, `give the IPv4 address, 127.0.0.1:${p}`],
    [`127.000.000.001:${p}`, "must be an IPv4 address as four numbers 0 to 255"],
    [`0127.0.0.1:${p}`, "must be an IPv4 address as four numbers 0 to 255"],
    [`[fe80::1%lo]:${p}`, "must not have a zone index (%lo)"],
    [`127.0.0.1:0${p}`, "port must be a whole number from 1 to 65535, without a sign"],
    [`127.0.0.1:+${p}`, "port must be a whole number from 1 to 65535, without a sign"],
  ];
  for (const [address, why] of refused) {
    const r = await run(m, ["init", m.name, address, "--bootstrap"]);
    assert.is(r.code, 2, `${address}: ${r.stderr}`);
    assert.match(r.stderr, `Invalid ADDRESS "${address}": `, address);
    assert.match(r.stderr, why, address);
    const body = { bootstrap: true, name: m.name, address };
    const res = await api(m, "POST", "/core/control", body);
    assert.is(res.status, 400, `${address}: ${JSON.stringify(res.body)}`);
    assert.match(res.body.error, `Invalid request body: address: `, address);
    assert.match(res.body.error, why, address);
  }
  assert.ok(isClean(m), "nothing of a cluster written");
  const info = await api(m, "GET", "/core/1.0");
  assert.is(info.body.metadata.address, "");
  await stop(m);
});

test("a joiner cannot take a down member's address by spelling it differently", async ({ list }) => {
  const [a, b, c] = list;
  await stop(b);
  const evil = await newMember("as-evil");
  all.push(evil);
  await startMember(evil);
  const token = await issueToken(a, evil.name);
  const r = await run(evil, ["init", evil.name, `[0:0:0:0:0:0:0:1]:${b.port}`, "--token", token]);
  assert.is(r.code, 1, `the join must be refused: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, `Address ${b.address} is already used by member "${b.name}"`);
  assert.ok(isClean(evil), "the refused joiner holds nothing of the cluster");
  for (const m of [a, c]) {
    const names = (await members(m)).map((e) => e.name);
    assert.equal(names, [a.name, b.name, c.name], `as ${m.name} sees it`);
  }
  // The member that was down listens at its address again.
  await startMember(b);
  await allOnline(list, list.map((m) => m.name), 30_000);
});

test("nor by naming it with a host name", async ({ list }) => {
  const [a, b, c] = list;
  await stop(c); // at 127.0.0.1, which localhost names
  const other = await newMember("as-name");
  all.push(other);
  await startMember(other);
  const token = await issueToken(a, other.name);
  const r = await run(other, ["init", other.name, `localhost:${c.port}`, "--token", token]);
  assert.is(r.code, 1, `the join must be refused: ${r.stdout}${r.stderr}`);
  const why = `Address localhost:${c.port} is already used by member "${c.name}" (at ${c.address})`;
  assert.match(r.stderr, why);
  assert.ok(isClean(other), "the refused joiner holds nothing of the cluster");
  await startMember(c);
  await allOnline(list, list.map((m) => m.name), 30_000);
  // An IPv6 member removes the IPv4 one.
  const removed = await run(b, ["cluster", "remove", c.name]);
  assert.is(removed.code, 0, removed.stderr);
  await allOnline([a, b], [a.name, b.name], 30_000);
});

test.run();
