/**
 * Issue 12, defect 5, in process: one join token, two machines presenting it to members on two
 * sides of a partition. The rule: a member admits a joiner only once a majority of its roster
 * claimed the token for that machine, so the side with a majority admits and the other side
 * refuses (503, naming the members it could not reach); an even split admits neither, and the
 * token still works once healed. Whole members on the simulated clock (MemoryCluster), a
 * partition cutting both gossip and member-to-member requests. The namespace replay of the same
 * defect is tests/faults/replay_token.fault.ts.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeToken, encodeToken } from "../../lib/cluster/token.ts";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import type { PeerTransport } from "../../lib/daemon/peers.ts";
import { CohortError, UnavailableError } from "../../lib/errors.ts";
import { MemoryCluster } from "../helpers/memory_member.ts";

interface Ctx {
  sim: MemoryCluster;
  /** The current partition of member-to-member requests (by address), if any. */
  split: { groups?: string[][] };
}

const test = suite<Ctx>("a join token admits one machine, partition or not");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(12);
  ctx.split = {};
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

const address = (i: number) => `10.0.0.${i}:7443`;

/** The member at `own`'s way to the others: refused across the partition, as a cut link. */
function sided({ sim, split }: Ctx, own: string): PeerTransport {
  return {
    request(r) {
      const side = (a: string) => split.groups?.findIndex((g) => g.includes(a)) ?? -1;
      if (side(own) !== side(r.address)) {
        return Promise.reject(new UnavailableError(`Cannot reach ${r.address}: timed out`));
      }
      return sim.peers.request(r);
    },
  };
}

/** Cuts gossip and requests between `groups` of addresses. */
function partition(ctx: Ctx, ...groups: string[][]): void {
  ctx.sim.net.partition(...groups);
  ctx.split.groups = groups;
}

function heal(ctx: Ctx): void {
  ctx.sim.net.heal();
  ctx.split.groups = undefined;
}

/** Starts m1..mN, bootstraps m1 and joins the others through tokens, all in simulated time. */
async function form(ctx: Ctx, n: number): Promise<Daemon[]> {
  const daemons = await ctx.sim.form(n, (i) => ({ peers: sided(ctx, address(i)) }));
  await ctx.sim.run(3000);
  return daemons;
}

/** The token with only `at` as its join addresses. */
function via(token: string, at: number): string {
  return encodeToken({ ...decodeToken(token), join_addresses: [address(at)] });
}

/** `jx` joins through member `at`, from address `self`: the error, or `"joined"`. */
async function join(d: Daemon, token: string, at: number, self: number) {
  try {
    await d.initialize({
      bootstrap: false,
      name: "jx",
      address: address(self),
      join_token: via(token, at),
    });
    return "joined";
  } catch (err) {
    return err as CohortError;
  }
}

/** Waits (simulated) until every daemon lists `expected` as its `jx` entries. */
async function settle(ctx: Ctx, daemons: Daemon[], expected: string): Promise<string[]> {
  let seen: string[] = [];
  for (let i = 0; i < 60; i++) {
    seen = await Promise.all(
      daemons.map(async (d) =>
        (await d.clusterMembers()).filter((e) => e.name === "jx")
          .map((e) => `${e.address}:${e.status}`).join(",")
      ),
    );
    if (seen.every((s) => s === expected)) break;
    await ctx.sim.run(500);
  }
  return seen;
}

test("the side with a majority admits, the other refuses naming whom it could not reach", async (ctx) => {
  const { sim } = ctx;
  const members = await form(ctx, 5);
  const token = await sim.drive(members[0].createToken("jx", 0));
  await sim.run(2000); // the token reaches every member
  const ja = await sim.start("ja", { peers: sided(ctx, address(11)) });
  const jb = await sim.start("jb", { peers: sided(ctx, address(12)) });
  partition(
    ctx,
    [address(1), address(2), address(11)],
    [address(3), address(4), address(5), address(12)],
  );
  await sim.run(2000);
  const [a, b] = await sim.drive(Promise.all([
    join(ja, token, 1, 11),
    join(jb, token, 3, 12),
  ]));
  assert.is(b, "joined");
  assert.instance(a, CohortError);
  const refused = a as CohortError;
  assert.is(refused.status, 503);
  assert.match(refused.message, /majority of the cluster's members/);
  assert.match(refused.message, /2 of 5 did \(3 needed; unreachable: "m3", "m4", "m5"\)/);
  assert.is(ja.status(), "uninitialized");
  heal(ctx);
  const seen = await settle(ctx, members, `${address(12)}:ONLINE`);
  assert.equal(seen, members.map(() => `${address(12)}:ONLINE`));
  assert.is(ja.status(), "uninitialized");
  assert.is(jb.status(), "online");
});

test("an even split admits neither; once healed the token admits one, then no other", async (ctx) => {
  const { sim } = ctx;
  const members = await form(ctx, 4);
  const token = await sim.drive(members[0].createToken("jx", 0));
  await sim.run(2000);
  const ja = await sim.start("ja", { peers: sided(ctx, address(11)) });
  const jb = await sim.start("jb", { peers: sided(ctx, address(12)) });
  partition(ctx, [address(1), address(2), address(11)], [address(3), address(4), address(12)]);
  await sim.run(2000);
  const [a, b] = await sim.drive(Promise.all([
    join(ja, token, 1, 11),
    join(jb, token, 3, 12),
  ]));
  for (const r of [a, b]) {
    assert.instance(r, CohortError);
    assert.is((r as CohortError).status, 503);
    assert.match((r as CohortError).message, /2 of 4 did \(3 needed; unreachable/);
  }
  heal(ctx);
  await sim.run(3000);
  // The refused rounds released their claims: the token is whole again.
  assert.is(await sim.drive(join(jb, token, 3, 12)), "joined");
  await sim.run(3000);
  const again = await sim.drive(join(ja, token, 1, 11));
  assert.instance(again, CohortError);
  assert.is((again as CohortError).status, 403);
  assert.match((again as CohortError).message, /already used|claimed by another join/);
  const seen = await settle(ctx, members, `${address(12)}:ONLINE`);
  assert.equal(seen, members.map(() => `${address(12)}:ONLINE`));
  assert.is(ja.status(), "uninitialized");
});

test("two machines at once, no partition: exactly one is admitted", async (ctx) => {
  const { sim } = ctx;
  const members = await form(ctx, 3);
  const token = await sim.drive(members[1].createToken("jx", 0));
  await sim.run(2000);
  const ja = await sim.start("ja", { peers: sided(ctx, address(11)) });
  const jb = await sim.start("jb", { peers: sided(ctx, address(12)) });
  const results = await sim.drive(Promise.all([
    join(ja, token, 1, 11),
    join(jb, token, 3, 12),
  ]));
  const admitted = results.filter((r) => r === "joined");
  assert.is(admitted.length, 1, String(results));
  const loser = results.find((r) => r !== "joined") as CohortError;
  assert.is(loser.status, 403);
  const winner = results[0] === "joined" ? address(11) : address(12);
  const seen = await settle(ctx, members, `${winner}:ONLINE`);
  assert.equal(seen, members.map(() => `${winner}:ONLINE`));
});

test("a one-member cluster confirms alone", async (ctx) => {
  const { sim } = ctx;
  const [m1] = await form(ctx, 1);
  const token = await sim.drive(m1.createToken("jx", 0));
  const j = await sim.start("j", { peers: sided(ctx, address(11)) });
  assert.is(await sim.drive(join(j, token, 1, 11)), "joined");
});

test.run();
