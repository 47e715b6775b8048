/**
 * Issue 15: `cohort init --token` answers once the join is committed, without waiting for the
 * joiner's store to take in the view the admitting member handed it (on a loaded machine that
 * write was most of what the command waited for after its admission). The view is kept in
 * `join_view.json` until the store holds it. Real member daemons on loopback: the joiner's
 * database is held write-locked by the test while it joins, so its store cannot take the view
 * in; the join still answers, the joiner is killed with SIGKILL at once, and restarted: it must
 * come back as a member that every member lists ONLINE, with the view in its store and the file
 * gone. Before, the join answered only once its write gave up (the lock's busy timeout), and a
 * member killed then restarted knowing no member: it never rejoined.
 */
import { createClient } from "@libsql/client";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  allOnline,
  daemonsLastLines,
  eventually,
  formCluster,
  issueToken,
  join_,
  kill,
  type Member,
  newMember,
  startMember,
  stopMembers,
} from "../helpers/cluster.ts";

interface Ctx {
  cluster: Member[];
  joiner?: Member;
}

const test = suite<Ctx>(
  "a joiner killed before its store holds the view it was handed",
  undefined,
  (ctx) => daemonsLastLines([...(ctx.cluster ?? []), ctx.joiner]),
);

test.before(async (ctx) => {
  ctx.cluster = await formCluster(["a", "b"]);
});

test.after(async (ctx) => {
  await stopMembers([...ctx.cluster, ...(ctx.joiner ? [ctx.joiner] : [])]);
});

const database = (m: Member) => `file:${join(m.dir, "database", "cohort.db")}`;

/** The names in `m`'s stored member rows (its daemon stopped, or reading beside it). */
async function storedNames(m: Member): Promise<string[]> {
  const client = createClient({ url: database(m) });
  try {
    const rs = await client.execute("SELECT name FROM core_cluster_members ORDER BY name");
    return rs.rows.map((r) => String(r.name));
  } finally {
    client.close();
  }
}

test("restarts as a member from join_view.json and writes the view to its store", async (ctx) => {
  const [a, b] = ctx.cluster;
  const x = ctx.joiner = await startMember(await newMember("x"));
  const token = await issueToken(a, "x");
  // The joiner's store cannot take a write while the test holds its database's write lock.
  const locker = createClient({ url: database(x) });
  const lock = await locker.transaction("write");
  let joined;
  try {
    joined = await join_(x, token);
    assert.is(joined.code, 0, `init --token failed: ${joined.stderr}`);
    assert.ok(existsSync(join(x.dir, "daemon.json")), "the join committed");
    assert.ok(existsSync(join(x.dir, "join_view.json")), "the view is kept until stored");
    await kill(x);
  } finally {
    await lock.rollback().catch(() => {});
    locker.close();
  }
  assert.equal(await storedNames(x), [], "the store held no member when the joiner was killed");
  await startMember(x);
  await allOnline([a, b, x], ["a", "b", "x"], 30_000);
  await eventually("the view in the joiner's store, join_view.json gone", async () => {
    const names = await storedNames(x);
    return names.join(",") === "a,b,x" && !existsSync(join(x.dir, "join_view.json"));
  }, 15_000);
});

test.run();
