/**
 * A member whose disk fills up, as an operator meets it: real daemons, each probed member's
 * state directory on a small tmpfs of its own, filled with `fallocate` beside the daemon.
 *
 * - `init --bootstrap` on a full disk fails saying the disk is full (it said "Internal server
 *   error"), leaves the member uninitialised, and works once room is made;
 * - a running member whose disk fills while gossip brings it changes to store keeps serving,
 *   logs the failure once (it logged every retry, each second, and in bursts), refuses to claim
 *   a join token saying why (the joiner read "Internal server error"), and once room is made
 *   writes what it owes, says so, and its database is intact;
 * - `init --token` on a full disk fails saying so and leaves no member behind in any roster.
 *
 * A restart on a full disk: `disk_full_start.fault.ts`.
 *
 * Needs root (mount); registered through `faultTest`, so it skips visibly where it cannot run.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as assert from "uvu/assert";
import {
  bootstrap,
  eventually,
  isClean,
  issueToken,
  join_,
  logLines,
  type Member,
  members,
  run,
  sql,
  stop,
} from "../helpers/cluster.ts";
import {
  assertIntact,
  diskSuite,
  fill,
  leftovers,
  type Mounted,
  NO_SPACE,
  teardown,
  tmpfs,
  unfill,
} from "./disks.ts";
import { faultTest } from "./suite.ts";

const { test, member, memberOn } = diskSuite("a member's disk fills up");

/** A member whose state directory is a tmpfs of `size`, started; with the mount. */
function memberOnTmpfs(name: string, size: string): Promise<[Member, Mounted]> {
  return memberOn(name, (dir) => tmpfs(dir, size));
}

faultTest(
  test,
  "init --bootstrap on a full disk says so, leaves nothing, works once room is made",
  async () => {
    const [m, fs] = await memberOnTmpfs("b1", "2m");
    try {
      // Room for its certificates but not for what its store must write (12 kB:
      // SQLite then had no room to delete the rows it wrote, and the undo stopped there, leaving
      // the certificates, the cluster's key among them).
      for (const leave of [12_288, 0]) {
        await fill(m.dir, leave);
        const r = await run(m, ["init", m.name, m.address, "--bootstrap"]);
        assert.is(r.code, 1, `${leave} B left: ${r.stderr}`);
        assert.match(r.stderr, NO_SPACE, `${leave} B left`);
        assert.ok(isClean(m), `${leave} B left: uninitialised, no certificate left`);
        assert.equal(leftovers(m.dir), [], `${leave} B left: no torn file`);
        unfill(m.dir);
      }
      await bootstrap(m);
      assert.equal((await members(m)).map((e) => e.name), ["b1"]);
    } finally {
      await teardown([m], [fs]);
    }
  },
);

faultTest(
  test,
  "a member whose disk fills keeps serving, logs it once, catches up once room is made",
  async () => {
    const a1 = await member("a1");
    const [a2, fs] = await memberOnTmpfs("a2", "4m");
    const j = await member("j");
    const all = [a1, a2, j];
    try {
      await bootstrap(a1);
      const r = await join_(a2, await issueToken(a1, a2.name));
      assert.is(r.code, 0, r.stderr);
      await fill(a2.dir);
      // Tokens a2 must store, 50 at a time (tens of kB), until its store refuses them: the log
      // SQLite reuses may hold the first ones.
      let issued = 0;
      const failed = () => logLines(a2, /persist/).length > 0;
      while (!failed() && issued < 1000) {
        for (const end = issued + 50; issued < end; issued++) await issueToken(a1, `x${issued}`);
        await eventually("a2 failing to store them", () => Promise.resolve(failed()), 3000)
          .catch(() => {});
      }
      assert.ok(failed(), `a2 stored ${issued} tokens on a full disk`);
      const failing = Date.now();
      // A join needs a2's claim (a majority of two): a2 cannot write it, and says why.
      const token = await issueToken(a1, j.name);
      const refused = await join_(j, token);
      assert.is(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, NO_SPACE);
      assert.ok(isClean(j));
      assert.equal(leftovers(a2.dir), [], "the claim a2 could not write left nothing behind");
      await sleep(Math.max(0, failing + 4000 - Date.now()));
      // Still serving, every member listed.
      assert.equal((await members(a2)).map((e) => `${e.name}:${e.status}`), [
        "a1:ONLINE",
        "a2:ONLINE",
      ]);
      const logged = logLines(a2, /persist/);
      assert.is(logged.length, 1, `one line for a run of failures:\n${logged.join("\n")}`);
      unfill(a2.dir);
      await eventually("a2 storing the tokens", async () => {
        const res = await sql(a2, "SELECT count(*) AS n FROM core_token_records");
        return res.status === 200 && res.body.metadata.results[0].rows[0][0] >= issued;
      });
      await eventually(
        "a2 saying it stores again",
        () => Promise.resolve(logLines(a2, /^Persisted the cluster view again$/).length === 1),
      );
      // The refused round released its claims: the same token admits j now.
      const joined = await join_(j, token);
      assert.is(joined.code, 0, joined.stderr);
      await stop(a2);
      await assertIntact(a2);
    } finally {
      await teardown(all, [fs]);
    }
  },
);

faultTest(test, "init --token on a full disk says so and leaves no member behind", async () => {
  const a1 = await member("t1");
  const [j, fs] = await memberOnTmpfs("tj", "2m");
  try {
    await bootstrap(a1);
    // Nothing left, or room for some of the join's files (8 kB: its mark's temporary file once
    // stayed behind) but not all.
    for (const leave of [0, 4096, 8192]) {
      await fill(j.dir, leave);
      const name = `tj${leave}`;
      const r = await run(j, ["init", name, j.address, "--token", await issueToken(a1, name)]);
      assert.is(r.code, 1, `${leave} B left: ${r.stderr}`);
      assert.match(r.stderr, NO_SPACE, `${leave} B left`);
      assert.ok(isClean(j), `${leave} B left: uninitialised`);
      assert.not.ok(existsSync(join(j.dir, "transition.json")), `${leave} B left: no join mark`);
      assert.equal(leftovers(j.dir), [], `${leave} B left: no torn file`);
      assert.equal((await members(a1)).map((e) => e.name), ["t1"], `${leave} B: no half member`);
      unfill(j.dir);
    }
    const again = await join_(j, await issueToken(a1, j.name));
    assert.is(again.code, 0, again.stderr);
  } finally {
    await teardown([a1, j], [fs]);
  }
});

test.run();
