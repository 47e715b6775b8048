/**
 * Bugs the whole-member simulation found, each as the scenario that shows it (whole members on
 * the simulated clock, as in the simulation) and as the seed that found it, replayed.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { build } from "./builds.ts";
import { report, runSeed } from "./operator.ts";
import { type SimMember, World } from "./world.ts";

const test = suite("bugs the simulation found");

/** Names in `m`'s roster, and which of them it sees down. */
function seen(m: SimMember): string {
  const view = m.member!.network!.view;
  const names = [...view.roster().keys()].sort();
  return names.map((n) => `${n}${view.liveness(n).up ? "" : "(down)"}`).join(",");
}

test("an admitter killed right after answering a join still knows the joiner when it restarts (seed 17)", async () => {
  const w = new World({ seed: 17, members: 2 });
  try {
    const v0 = build("v0");
    const [m1, m2] = w.members;
    const starts = Promise.all([w.start(m1, v0).started, w.start(m2, v0).started]);
    assert.ok(await w.until(starts, 10_000));
    const [d1, d2] = await starts;
    const boot = d1.initialize({ bootstrap: true, name: "m1", address: m1.address });
    assert.ok(await w.until(boot, 10_000));
    await boot;
    await w.run(3000);
    const issued = d1.createToken("m2", 0);
    assert.ok(await w.until(issued, 10_000));
    const token = await issued;
    const join = d2.initialize({
      bootstrap: false,
      name: "m2",
      address: m2.address,
      join_token: token,
    });
    assert.ok(await w.until(join, 10_000));
    await join;
    // Within the second between two writes of m1's view to its store.
    w.kill(m1);
    await w.run(3000);
    const again = w.start(m1, v0).started;
    assert.ok(await w.until(again, 30_000));
    await again;
    await w.run(10_000);
    assert.is(seen(m1), "m1,m2", "m1 still knows m2 after its restart");
    assert.is(seen(m2), "m1,m2", "m2 sees m1 again");
  } finally {
    await w.close();
  }
});

/** Starts every member of `w` with v0, bootstraps the first and joins the others. */
async function form(w: World): Promise<void> {
  const v0 = build("v0");
  const starts = Promise.all(w.members.map((m) => w.start(m, v0).started));
  assert.ok(await w.until(starts, 10_000));
  const [first, ...rest] = await starts;
  const boot = first.initialize({ bootstrap: true, name: "m1", address: w.members[0].address });
  assert.ok(await w.until(boot, 10_000));
  await boot;
  for (const [i, d] of rest.entries()) {
    const m = w.members[i + 1];
    const issued = first.createToken(m.name, 0);
    assert.ok(await w.until(issued, 10_000));
    const token = await issued;
    const join = d.initialize({
      bootstrap: false,
      name: m.name,
      address: m.address,
      join_token: token,
    });
    assert.ok(await w.until(join, 10_000));
    await join;
  }
  await w.run(3000);
}

test("a remove fails when its member is removed while it waits for the departing one (seed 789)", async () => {
  const w = new World({ seed: 789, members: 3 });
  try {
    await form(w);
    const [m1, m2, m3] = w.members;
    w.partition([["m1", "m2"], ["m3"]]);
    // m1 asks the unreachable m3 to leave (it waits for the request's timeout) …
    const removal = m1.daemon!.removeMember("m3", true);
    let outcome = "pending";
    removal.then(() => (outcome = "removed"), (err) => (outcome = String(err.message)));
    await w.run(1000);
    // … while m2 removes m1.
    const other = m2.daemon!.removeMember("m1", true);
    assert.ok(await w.until(other, 10_000));
    await other;
    assert.ok(await w.until(removal, 30_000));
    assert.match(outcome, /Cannot remove "m3": this member is/);
    w.heal();
    await w.run(20_000);
    assert.is(m3.phase, "online", "m3 was never removed");
    assert.is(seen(m2), "m2,m3");
    assert.is(seen(m3), "m2,m3");
  } finally {
    await w.close();
  }
});

test("a member restarted while cut off is seen up again once the network heals, though a member it knew was removed meanwhile (seed 973)", async () => {
  const w = new World({ seed: 4, members: 3 });
  try {
    await form(w);
    const [m1, m2, m3] = w.members;
    // A graceful stop: the others hold m3 as left. Its restart's push-pulls are all lost …
    assert.ok(await w.until(w.stop(m3), 10_000));
    w.partition([["m1", "m2"], ["m3"]]);
    const again = w.start(m3, build("v0")).started;
    assert.ok(await w.until(again, 30_000));
    await again;
    assert.is(m3.phase, "online", "m3 opens alone");
    // … and m1, one of the two members m3 will try again, leaves the cluster meanwhile.
    const removal = m2.daemon!.removeMember("m1", false);
    assert.ok(await w.until(removal, 30_000));
    await removal;
    await w.run(1000);
    w.heal();
    await w.run(20_000);
    assert.is(m1.phase, "uninitialized");
    assert.is(seen(m2), "m2,m3", "m2 sees m3 up");
    assert.is(seen(m3), "m2,m3", "m3 knows of the removal and sees m2 up");
  } finally {
    await w.close();
  }
});

test("a member restarted since the removal of a member that admitted another still takes the admitted one (seed 2331)", async () => {
  const w = new World({ seed: 2331, members: 4 });
  try {
    const v0 = build("v0");
    const [m1, m2, m3, m4] = w.members;
    const starts = Promise.all(w.members.map((m) => w.start(m, v0).started));
    assert.ok(await w.until(starts, 10_000));
    const [d1, d2, d3, d4] = await starts;
    const boot = d1.initialize({ bootstrap: true, name: "m1", address: m1.address });
    assert.ok(await w.until(boot, 10_000));
    await boot;
    for (const [m, d] of [[m2, d2], [m4, d4]] as const) {
      const issued = d1.createToken(m.name, 0);
      assert.ok(await w.until(issued, 10_000));
      const token = await issued;
      const join = d.initialize({
        bootstrap: false,
        name: m.name,
        address: m.address,
        join_token: token,
      });
      assert.ok(await w.until(join, 10_000));
      await join;
    }
    await w.run(3000);
    // Cut off from m2, m1 admits m3 …
    w.partition([["m1", "m3", "m4"], ["m2"]]);
    const issued = d1.createToken("m3", 0);
    assert.ok(await w.until(issued, 10_000));
    const token = await issued;
    const join = d3.initialize({
      bootstrap: false,
      name: "m3",
      address: m3.address,
      join_token: token,
    });
    assert.ok(await w.until(join, 10_000));
    await join;
    await w.run(3000);
    // … and m2 removes m1, which it cannot reach: m2 saw m1's certificate leave the name.
    const removal = d2.removeMember("m1", true);
    assert.ok(await w.until(removal, 30_000));
    await removal;
    // m2 restarts before it hears of m3, admitted by m1 before its removal.
    assert.ok(await w.until(w.stop(m2), 10_000));
    const again = w.start(m2, v0).started;
    assert.ok(await w.until(again, 30_000));
    await again;
    await w.run(3000);
    w.heal();
    await w.run(20_000);
    assert.is(m1.phase, "uninitialized", "m1 learnt its removal");
    assert.is(seen(m2), "m2,m3,m4", "m2 took m3's record, admitted by m1's former certificate");
    assert.is(seen(m3), "m2,m3,m4");
    assert.is(seen(m4), "m2,m3,m4");
    assert.equal(w.refusals.filter((r) => r.key === "m3"), [], "nobody refused m3's record");
  } finally {
    await w.close();
  }
});

/**
 * The seeds that found them, with the script length they were found with (100155: a member
 * killed within a second of learning of a new member restarted without it, its only other known
 * member removed meanwhile: a split for good; fixed by writing roster changes at once; 973, under
 * Deno: a member restarted during 20 % loss heard nobody, and the others held it left; 212: a
 * member down while another was removed and joined again never took its new certificate; 253: a
 * member that missed an admission never took the admitted member once its admitting member was
 * removed; both fixed by the incarnation rules of `lib/cluster/roster_rules.ts`, unit-tested in
 * tests/cluster/roster_trust.test.ts; 85 and 315: a member restarted while another was down
 * counted that one with its store's older versions, not the ones it last ran, which the running
 * members knew: gossip dropped their `dead` entry of a member it did not hold, and refused starts
 * the others would have let run, or let members wait for it forever; fixed in `gossip/state_merge.ts`,
 * unit-tested in tests/gossip/push_pull.test.ts; 255, 12 steps: a removed member unaware of its
 * removal published a refused start in its own roster record, whose later version then beat
 * the removal at members that took it first, and they listed it for good; fixed by
 * `removalOverrides` in `lib/cluster/roster.ts`, unit-tested in
 * tests/cluster/roster_trust.test.ts; 954, 12 steps: the simulation's strict-gate check counted
 * a removed member, waiting unaware of its removal, against a member that opened; 2331: a
 * member restarted after the removal of the member that had admitted another, which it had not
 * heard of yet, refused that member's record for good ("admission: "m1" is not a member"): it
 * had forgotten the removed member's certificate; fixed by keeping the certificates a member saw
 * leave a name in its store, tested in tests/store/former_certificates.test.ts).
 */
const SEEDS: [seed: number, steps: number][] = [
  [17, 8],
  [789, 4],
  [973, 4],
  [100155, 4],
  [212, 8],
  [253, 8],
  [85, 8],
  [315, 8],
  [255, 12],
  [954, 12],
  [2331, 8],
];
for (const [seed, steps] of SEEDS) {
  test(`seed ${seed} replays without a violation`, async () => {
    const r = await runSeed(seed, { members: 3, steps });
    assert.equal(r.violations, [], report(r, { members: 3, steps }));
  });
}

test.run();
