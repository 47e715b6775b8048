/**
 * A member's wall clock steps (NTP stepping a drifted clock, `date -s`, a VM resumed) while its
 * monotonic clock runs on: whole members on the simulated clock, one of them with a clock whose
 * `wallOffset` a test changes. Durations and deadlines inside the member (a join's deadline, the
 * age of a join under way) must not move with the step; dates (a token's expiry, an admission's
 * `joinedAt`) must. Before, the daemon read one clock, the wall clock, for both: a step forwards
 * of 10 min dropped a join under way as 10 min old, and a joiner found its deadline 10 min past;
 * a member down for seconds counted as down for the upgrade's dead grace, and stopped counting.
 * The real-process cases are in `tests/faults/clock_step.fault.ts`.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeToken, encodeToken } from "../../lib/cluster/token.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import type { PeerTransport } from "../../lib/daemon/peers.ts";
import { UnavailableError } from "../../lib/errors.ts";
import { filePair } from "../helpers/file_pair.ts";
import {
  beginJoin,
  memberAddress,
  memberStatuses,
  MemoryCluster,
  networkOf,
  twoMembers,
} from "../helpers/memory_member.ts";

const TEN_MIN = 10 * 60_000;

interface Ctx {
  sim: MemoryCluster;
}

const test = suite<Ctx>("a member's wall clock steps");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(17);
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

/** A wall clock to step: the member's `wallOffsetMs` option and the step. */
function steppable(): { wallOffsetMs: () => number; step: (ms: number) => void } {
  let offset = 0;
  return { wallOffsetMs: () => offset, step: (ms) => void (offset = ms) };
}

test("a member whose wall clock steps forwards 10 min does not drop a join under way", async ({ sim }) => {
  const wall = steppable();
  const { m1, m2, lines } = await twoMembers(sim, wall);
  // m3's join stays under way for 25 s (its preJoin hook): m2 checks joins every 10 s.
  const m3 = await sim.start("m3", {
    hooks: { preJoin: () => new Promise<void>((r) => sim.clock.setTimeout(r, 25_000)) },
  });
  const { join } = beginJoin(m3, "m3", memberAddress(3), await sim.drive(m1.createToken("m3", 0)));
  await sim.run(11_000); // m2 has seen the join under way at a check
  wall.step(TEN_MIN);
  await sim.drive(join);
  await sim.run(12_000);
  const dropped = lines.filter((l) => l.includes("whose join never completed"));
  assert.equal(dropped, [], "m2 dropped a join under way for the step");
  assert.is(await memberStatuses(m2), "m1:ONLINE,m2:ONLINE,m3:ONLINE");
});

test("a joiner whose wall clock steps forwards during its join asks the next member", async ({ sim }) => {
  const { m1 } = await twoMembers(sim);
  const wall = steppable();
  const silent = memberAddress(9); // nobody: the first address of the token
  // The step lands while the joiner waits for the first address, which then fails.
  const peers: PeerTransport = {
    request: (r) => {
      if (r.address !== silent) return sim.peers.request(r);
      wall.step(TEN_MIN);
      return Promise.reject(new UnavailableError(`${silent} did not answer`));
    },
  };
  const m3 = await sim.start("m3", { wallOffsetMs: wall.wallOffsetMs, peers });
  const token = decodeToken(await sim.drive(m1.createToken("m3", 0)));
  const outcome = await sim.drive(
    m3.initialize({
      bootstrap: false,
      name: "m3",
      address: memberAddress(3),
      join_token: encodeToken({ ...token, join_addresses: [silent, memberAddress(1)] }),
    }).then(() => "joined", (err: Error) => err.message),
  );
  assert.is(outcome, "joined");
});

test("after a step its dates follow its wall clock: a token's expiry, an admission's joinedAt", async ({ sim }) => {
  const wall = steppable();
  const { m2 } = await twoMembers(sim, wall);
  wall.step(TEN_MIN);
  const before = sim.clock.now() + TEN_MIN;
  const token = await sim.drive(m2.createToken("m3", 120_000));
  const listed = (await m2.listTokens()).find((t) => t.name === "m3");
  assert.is(listed?.expires_at, new Date(before + 120_000).toISOString());
  const m3 = await sim.start("m3");
  await sim.drive(
    m3.initialize({
      bootstrap: false,
      name: "m3",
      address: memberAddress(3),
      join_token: encodeToken({ ...decodeToken(token), join_addresses: [memberAddress(2)] }),
    }),
  );
  const record = networkOf(m2).gossip.record(MEMBER_RECORD, "m3");
  const joinedAt = (record?.value as { joinedAt: number }).joinedAt;
  assert.ok(joinedAt >= before, `m3 admitted at ${joinedAt}, before m2's wall clock ${before}`);
});

test("a step forwards past the dead grace does not exclude a member down for seconds", async ({ sim }) => {
  const OLD = ["feature_a"];
  const NEW = ["feature_a", "feature_b"];
  const GRACE_MS = 60_000;
  const wall = steppable();
  const { q2, start, close, ...formed } = await filePair(sim, OLD);
  let { q1 } = formed;
  try {
    // q2 goes down (to upgrade, say), q1 restarts upgraded: it waits for q2, which counts with
    // what it last ran for the grace, from q1's start (its stored heartbeat is older).
    await sim.drive(q2.stop());
    await sim.drive(q1.stop());
    q1 = await start(0, NEW, { upgradeDeadGraceMs: GRACE_MS, wallOffsetMs: wall.wallOffsetMs });
    assert.is(q1.status(), "waiting", "q1 waits for q2");
    const common = () => q1.hasExtension("feature_b", { scope: "cluster" });
    assert.is(common(), false, "q2, down for seconds, still counts with what it ran");
    wall.step(TEN_MIN);
    await sim.run(2000);
    networkOf(q1).gate?.recheck();
    // It was excluded at once: feature_b common to every member, and q1 opened without it.
    assert.is(common(), false, "q2 still counts after q1's wall clock stepped");
    assert.is(q1.status(), "waiting", "q1 still waits for q2");
    // The grace itself still runs out, on the time q1 observed.
    await sim.run(GRACE_MS);
    assert.is(common(), true, "q2 down for longer than the grace stops counting");
    assert.is(q1.status(), "online", "and q1 stops waiting for it");
    await sim.drive(q1.stop());
  } finally {
    close();
  }
});

test.run();
