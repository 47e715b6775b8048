/**
 * The contract every {@link MemberTable} honours, as one uvu suite: lookups by name and slot,
 * running counts, changes through `edit`, reaping, contact bookkeeping, and a digest that
 * depends on the contents only (not on the order of insertion nor on the table's kind).
 *
 * A table's test file calls {@link runMemberTableContract} with a factory that builds a table
 * holding exactly the given entries (an own table fills itself; a shared view starts from them).
 *
 * @module
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { MemberState } from "../../lib/cluster/membership.ts";
import { MemberEntry, OwnTable } from "../../gossip/members.ts";
import type { MemberTable } from "../../gossip/members.ts";
import type { WireMeta } from "../../gossip/messages.ts";
import { fromWireMeta } from "../../gossip/wire_meta.ts";

/** Wire metadata of member `name` (version `v`). */
export function wireOf(name: string, v = ""): WireMeta {
  return { a: `${name}.test:7946`, fp: "", r: "member", si: 0, se: 0, v, ec: 0, ed: "d0" };
}

/** A fresh entry for `name` in `state` at `inc`. */
export function entryOf(name: string, state: MemberState = "alive", inc = 0): MemberEntry {
  const wire = wireOf(name);
  const e = new MemberEntry(name, inc, wire, fromWireMeta(wire), 0);
  e.state = state;
  return e;
}

/** Builds a table holding exactly `entries` (fresh objects the table may keep). */
export type TableFactory = (entries: MemberEntry[]) => MemberTable;

/** The digest of an own table filled with `entries` (the reference). */
function ownDigest(entries: MemberEntry[]): string {
  const t = new OwnTable();
  for (const e of entries) t.add(e);
  return t.digest();
}

/** Every entry held, by name. */
function contents(t: MemberTable): string[] {
  const out: string[] = [];
  for (let i = 0; i < t.slots; i++) {
    const e = t.at(i);
    if (e) out.push(`${e.name}:${e.state}:${e.incarnation}`);
  }
  return out.sort();
}

/** Runs the contract against tables from `make`, under `label`. */
export function runMemberTableContract(label: string, make: TableFactory): void {
  const test = suite(`member table contract: ${label}`);
  const five = () => [
    entryOf("a"),
    entryOf("b", "suspect", 2),
    entryOf("c", "dead", 1),
    entryOf("d", "left", 4),
    entryOf("e"),
  ];

  test("holds what it was given, by name and by slot, with the counts", () => {
    const t = make(five());
    assert.is(t.size, 5);
    assert.ok(t.slots >= 5);
    assert.is(t.live, 2 + 1);
    assert.is(t.dead, 1);
    assert.is(t.get("b")?.incarnation, 2);
    assert.is(t.get("zz"), undefined);
    assert.equal(contents(t), ["a:alive:0", "b:suspect:2", "c:dead:1", "d:left:4", "e:alive:0"]);
    for (let i = 0; i < t.slots; i++) {
      const e = t.at(i);
      if (e) assert.is(t.get(e.name), e, `slot ${i}`);
    }
  });

  test("adds new members in new slots", () => {
    const t = make(five());
    const f = entryOf("f", "dead");
    t.add(f);
    assert.is(t.get("f"), f);
    assert.is(t.at(f.index), f);
    assert.is(t.size, 6);
    assert.is(t.dead, 2);
  });

  test("changes go through edit and show in lookups; setState keeps the counts", () => {
    const t = make(five());
    const a = t.edit(t.get("a")!);
    a.incarnation = 7;
    t.setState(a, "suspect", 123);
    assert.is(t.get("a")!.incarnation, 7);
    assert.is(t.get("a")!.state, "suspect");
    assert.is(t.get("a")!.stateChangedAt, 123);
    assert.is(t.live, 3);
    t.setState(t.edit(t.get("a")!), "dead", 124);
    assert.is(t.live, 2);
    assert.is(t.dead, 2);
    // Editing twice hands out the same entry.
    const again = t.edit(t.get("a")!);
    assert.is(again, t.edit(again));
    assert.is(t.get("a"), again);
  });

  test("setState between every two states keeps live and dead equal to a recount; the same state changes nothing", () => {
    const states: MemberState[] = ["alive", "suspect", "dead", "left"];
    const recount = (t: MemberTable) => {
      let live = 0;
      let dead = 0;
      for (let i = 0; i < t.slots; i++) {
        const s = t.at(i)?.state;
        if (s === "alive" || s === "suspect") live++;
        else if (s === "dead") dead++;
      }
      return `live ${live}, dead ${dead}`;
    };
    let now = 100;
    for (const from of states) {
      for (const to of states) {
        const t = make(five());
        t.setState(t.edit(t.get("a")!), from, ++now);
        const before = t.digest();
        const at = t.get("a")!.stateChangedAt;
        t.setState(t.edit(t.get("a")!), to, ++now);
        const label = `${from} → ${to}`;
        assert.is(`live ${t.live}, dead ${t.dead}`, recount(t), label);
        assert.is(t.get("a")!.state, to, label);
        if (from === to) {
          assert.is(t.get("a")!.stateChangedAt, at, `${label}: not a change`);
          assert.is(t.digest(), before, `${label}: digest`);
        } else {
          assert.is(t.get("a")!.stateChangedAt, now, label);
          assert.is.not(t.digest(), before, `${label}: digest`);
        }
      }
    }
  });

  test("remove forgets a member: lookups, counts and slots", () => {
    const t = make(five());
    t.remove(t.get("c")!);
    assert.is(t.get("c"), undefined);
    assert.is(t.size, 4);
    assert.is(t.dead, 0);
    assert.equal(contents(t), ["a:alive:0", "b:suspect:2", "d:left:4", "e:alive:0"]);
    t.remove(entryOf("c")); // not held: nothing happens
    assert.is(t.size, 4);
    // A member reaped and back gets an entry again.
    t.add(entryOf("c", "alive", 3));
    assert.is(t.get("c")!.incarnation, 3);
    assert.is(t.live, 4);
  });

  test("contact: heard sets contacted and the last heartbeat; a copy made later keeps them", () => {
    const t = make(five());
    const e = t.get("e")!;
    assert.is(t.contacted(e), false);
    t.heard(e, 500);
    assert.is(t.contacted(t.get("e")!), true);
    assert.is(t.lastHeartbeat(t.get("e")!), 500);
    const edited = t.edit(t.get("e")!);
    assert.is(t.contacted(edited), true);
    assert.is(t.lastHeartbeat(edited), 500);
    edited.contacted = false; // learned live again
    assert.is(t.contacted(t.get("e")!), false);
  });

  test("the digest depends on the contents only", () => {
    const t = make(five());
    const reference = ownDigest(five());
    assert.is(t.digest(), reference);
    assert.is(ownDigest(five().reverse()), reference, "insertion order");
    const a = t.edit(t.get("a")!);
    a.incarnation = 1;
    const changed = t.digest();
    assert.is.not(changed, reference);
    const other = five();
    other[0].incarnation = 1;
    assert.is(changed, ownDigest(other));
    const back = t.edit(t.get("a")!);
    back.incarnation = 0;
    assert.is(t.digest(), reference, "back to the same contents");
    t.setState(t.edit(t.get("e")!), "dead", 9);
    assert.is.not(t.digest(), reference);
    t.setState(t.edit(t.get("e")!), "alive", 10);
    assert.is(t.digest(), reference);
    const m = t.edit(t.get("b")!);
    m.wire = wireOf("b", "2.0");
    assert.is.not(t.digest(), reference, "metadata");
    t.remove(t.get("d")!);
    const gone = five().filter((e) => e.name !== "d");
    gone[1].wire = wireOf("b", "2.0");
    assert.is(t.digest(), ownDigest(gone));
  });

  test.run();
}
