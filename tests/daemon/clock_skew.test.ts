/**
 * Members' wall clocks disagree (a machine without NTP, a virtual machine restored from a
 * snapshot): nothing one member decides may compare its own clock with a time another member
 * wrote. Every online member drops an admitted joiner whose join never completed after
 * `JOIN_EXPIRY_MS` (5 min); it measured that against the admission's `joinedAt`, the admitting
 * member's clock, so a member whose clock ran 5 minutes ahead dropped every join it saw under
 * way, a healthy joiner removed while it joined. Whole members on the simulated clock, one of
 * them with its clock ahead.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeToken, encodeToken } from "../../lib/cluster/token.ts";
import { JOIN_EXPIRY_MS } from "../../lib/daemon/flows/accept_join.ts";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import {
  beginJoin,
  memberAddress,
  memberStatuses,
  MemoryCluster,
  twoMembers,
} from "../helpers/memory_member.ts";

interface Ctx {
  sim: MemoryCluster;
}

const test = suite<Ctx>("members whose clocks disagree");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(11);
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

/**
 * What `daemons` list, one `name:STATUS,…` each joined by spaces, once each lists every one of
 * them ONLINE or after 30 s of simulated time.
 */
async function untilAllOnline(sim: MemoryCluster, daemons: Daemon[]): Promise<string> {
  let seen = "";
  for (let t = 0; t < 30_000; t += 500) {
    seen = (await Promise.all(daemons.map(memberStatuses))).join(" ");
    if (seen === allOnline(daemons.length)) break;
    await sim.run(500);
  }
  return seen;
}

/** What {@link untilAllOnline} sees when `n` members m1..mN all list each other ONLINE. */
function allOnline(n: number): string {
  const one = Array.from({ length: n }, (_, i) => `m${i + 1}:ONLINE`).join(",");
  return Array(n).fill(one).join(" ");
}

for (const skew of [JOIN_EXPIRY_MS + 60_000, -(JOIN_EXPIRY_MS + 60_000)]) {
  test(`a member whose clock is ${skew / 60_000} min off does not drop a join under way`, async ({ sim }) => {
    const { m1, m2, lines } = await twoMembers(sim, { clockSkewMs: skew });
    // m3's join stays under way for 15 s (its preJoin hook), past m2's stale-join check (10 s).
    const m3 = await sim.start("m3", {
      hooks: { preJoin: () => new Promise<void>((r) => sim.clock.setTimeout(r, 15_000)) },
    });
    const { join } = beginJoin(
      m3,
      "m3",
      memberAddress(3),
      await sim.drive(m1.createToken("m3", 0)),
    );
    await sim.drive(join);
    const seen = await untilAllOnline(sim, [m1, m2, m3]);
    const dropped = lines.filter((l) => l.includes("whose join never completed"));
    assert.equal(dropped, [], "m2 dropped a join under way");
    assert.is(seen, allOnline(3));
    assert.is(m3.status(), "online");
  });
}

test("a join that never completes is still dropped, by every clock's measure, after JOIN_EXPIRY_MS", async ({ sim }) => {
  const { m1, m2 } = await twoMembers(sim, { clockSkewMs: -(JOIN_EXPIRY_MS + 60_000) });
  // m3 is admitted, then never heard from again: its preJoin never returns.
  const m3 = await sim.start("m3", { hooks: { preJoin: () => new Promise<void>(() => {}) } });
  const { join } = beginJoin(m3, "m3", memberAddress(3), await sim.drive(m1.createToken("m3", 0)));
  await sim.run(3000);
  await sim.drive(m3.stop());
  join.catch(() => {});
  await sim.run(JOIN_EXPIRY_MS + 30_000, 100);
  const names = (await m2.clusterMembers()).map((e) => e.name);
  assert.equal(names, ["m1", "m2"], "the join that never completed is still listed");
});

// A join token's `expiresAt` is its issuer's clock. Each member of the claim round votes on it by
// its own clock and a majority decides (`expiryProblem`, lib/daemon/admission.ts): m1 issues a
// token valid 2 min, m2's clock is 10 min off, m1 and m3 agree. Before, the admitting member
// refused by its own clock alone, so a joiner that reached m2 (10 min ahead) was told a fresh
// token had expired.
const TEN_MIN = 10 * 60_000;
const cases = [
  { skew: TEN_MIN, after: 0, via: 2, admitted: true },
  { skew: TEN_MIN, after: 0, via: 1, admitted: true },
  { skew: -TEN_MIN, after: 180_000, via: 2, admitted: false },
  { skew: -TEN_MIN, after: 180_000, via: 1, admitted: false },
];
for (const { skew, after, via, admitted } of cases) {
  const when = after ? `${after / 60_000} min after issue, ` : "";
  const name = `a 2 min token, ${when}m2 ${skew > 0 ? "ahead" : "behind"} 10 min, ` +
    `through m${via}: ${admitted ? "admitted" : "refused as expired"}`;
  test(name, async ({ sim }) => {
    const [m1] = await sim.form(3, (i) => (i === 2 ? { clockSkewMs: skew } : {}));
    const issued = decodeToken(await sim.drive(m1.createToken("m4", 120_000)));
    await sim.run(2000); // the token's record reaches m2 and m3
    if (after) await sim.run(after, 500);
    const m4 = await sim.start("m4");
    const outcome = await sim.drive(
      m4.initialize({
        bootstrap: false,
        name: "m4",
        address: memberAddress(4),
        join_token: encodeToken({ ...issued, join_addresses: [memberAddress(via)] }),
      }).then(() => "admitted", (err: Error) => err.message),
    );
    if (admitted) assert.is(outcome, "admitted");
    else assert.match(outcome, /Join token expired at \d{4}-/);
  });
}

// A pending joiner is trusted only when admitted after its admitting member's own admission
// states the removal it follows (`rosterOf`, lib/cluster/roster.ts): `joinedAt`, the admitting
// member's clock, against the removal's version, the remover's clock. m3, 10 min behind m1, is
// removed by m1 and joins again; a joiner it then admits must not be taken for one its removed
// incarnation admitted.
test("a member removed and joined again, its clock 10 min behind its remover's, admits a joiner at once", async ({ sim }) => {
  const [m1, m2] = await sim.form(3, (i) => (i === 3 ? { clockSkewMs: -TEN_MIN } : {}));
  await sim.drive(m1.removeMember("m3", true));
  await sim.run(2000);
  await sim.drive(sim.daemons.get("m3")!.stop());
  const m3 = await sim.start("m3", { clockSkewMs: -TEN_MIN });
  await sim.drive(
    m3.initialize({
      bootstrap: false,
      name: "m3",
      address: memberAddress(3),
      join_token: await sim.drive(m1.createToken("m3", 0)),
    }),
  );
  await sim.run(2000);
  const issued = decodeToken(await sim.drive(m1.createToken("m4", 0)));
  await sim.run(2000);
  const m4 = await sim.start("m4");
  await sim.drive(
    m4.initialize({
      bootstrap: false,
      name: "m4",
      address: memberAddress(4),
      join_token: encodeToken({ ...issued, join_addresses: [memberAddress(3)] }),
    }),
  );
  assert.is(await untilAllOnline(sim, [m1, m2, m3, m4]), allOnline(4));
});

test.run();
