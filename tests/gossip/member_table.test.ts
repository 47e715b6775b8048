/**
 * The member table contract against both tables: a member's own (the daemon's) and a view of
 * one table shared by a simulation's members; and what sharing must never do: let one member's
 * change show in another's view.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { OwnTable } from "../../gossip/members.ts";
import { SharedMembers } from "../../gossip/shared_members.ts";
import { createSimCluster } from "../../gossip/sim.ts";
import { entryOf, runMemberTableContract } from "./member_table_contract.ts";

runMemberTableContract("own table", (entries) => {
  const t = new OwnTable();
  for (const e of entries) t.add(e);
  return t;
});
runMemberTableContract("view of a shared table", (entries) => new SharedMembers(entries).view());
runMemberTableContract("view of a shared table, half added later", (entries) => {
  const half = Math.ceil(entries.length / 2);
  const view = new SharedMembers(entries.slice(0, half)).view();
  for (const e of entries.slice(half)) view.add(e);
  return view;
});

const test = suite("shared member table");

test("a change in one view is never seen by another", () => {
  const shared = new SharedMembers(["a", "b", "c"].map((n) => entryOf(n)));
  const x = shared.view();
  const y = shared.view();
  const before = y.digest();
  const a = x.edit(x.get("a")!);
  a.incarnation = 5;
  x.setState(a, "dead", 10);
  x.heard(x.get("b")!, 42);
  x.remove(x.get("c")!);
  assert.is(y.get("a")!.incarnation, 0);
  assert.is(y.get("a")!.state, "alive");
  assert.is(y.contacted(y.get("b")!), false);
  assert.ok(y.get("c"));
  assert.is(y.live, 3);
  assert.is(y.digest(), before);
  assert.is(x.live, 1);
  assert.is.not(x.digest(), before);
});

test("the local member's own entry replaces the shared one", () => {
  const shared = new SharedMembers(["a", "b"].map((n) => entryOf(n)));
  const view = shared.view();
  const self = entryOf("a", "alive", 3);
  view.add(self);
  assert.is(view.get("a"), self);
  assert.is(view.size, 2);
  assert.is(view.live, 2);
  assert.is(view.edit(self), self);
  assert.is(shared.view().get("a")!.incarnation, 0);
});

test("a simulated member's own share of the table does not grow with N (memory linear in N)", () => {
  // Two minutes of simulated time at 10 % loss (suspicions, refutations, every member heard
  // from by many): with own tables each member would hold N entries; a view holds only its
  // changes and recent contacts, the same at N = 100 and N = 400.
  const perMember = (n: number) => {
    const c = createSimCluster({ size: n, seed: 3, form: "restore", network: { loss: 0.1 } });
    c.clock.advance(120_000);
    const held = c.shared!.footprint() / n;
    assert.ok(c.converged(), `N = ${n} did not stay converged`);
    c.stop();
    return held;
  };
  const small = perMember(100);
  const large = perMember(400);
  assert.ok(large <= 1.25 * small + 2, `per member: ${small} at N = 100, ${large} at N = 400`);
  assert.ok(large < 400 / 8, `per member at N = 400: ${large}`);
});

test.run();
