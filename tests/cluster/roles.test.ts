import { suite } from "uvu";
import * as assert from "uvu/assert";
import { assignRoles, type RoleCandidate } from "../../lib/cluster/roles.ts";

const test = suite("assignRoles()");
const member = (name: string, joinedAt: number, extra: Partial<RoleCandidate> = {}) => ({
  name,
  joinedAt,
  live: true,
  pending: false,
  ...extra,
});
const asObject = (m: Map<string, string>) => Object.fromEntries([...m].sort());

test("one member is the voter", () => {
  assert.equal(asObject(assignRoles([member("a", 1)])), { a: "voter" });
});

test("two members: one voter (odd), one stand-by", () => {
  assert.equal(asObject(assignRoles([member("b", 2), member("a", 1)])), {
    a: "voter",
    b: "stand-by",
  });
});

test("eight members: 3 voters, 3 stand-bys, 2 spares by join time then name", () => {
  const ms = ["h", "g", "f", "e", "d", "c", "b", "a"].map((n, i) => member(n, i < 2 ? 0 : i));
  const roles = asObject(assignRoles(ms));
  assert.equal(roles, {
    g: "voter",
    h: "voter",
    f: "voter",
    e: "stand-by",
    d: "stand-by",
    c: "stand-by",
    b: "spare",
    a: "spare",
  });
});

test("a failed voter is replaced by the same successor whatever the input order", () => {
  const ms = [
    member("a", 1, { live: false }),
    member("b", 2),
    member("c", 3),
    member("d", 4),
    member("e", 5),
  ];
  const one = asObject(assignRoles(ms));
  const two = asObject(assignRoles([...ms].reverse()));
  assert.equal(one, two);
  assert.equal(one, { a: "spare", b: "voter", c: "voter", d: "voter", e: "stand-by" });
});

test("pending members stay PENDING and take no rank", () => {
  const roles = asObject(assignRoles([member("a", 1), member("b", 0, { pending: true })]));
  assert.equal(roles, { a: "voter", b: "PENDING" });
});

test.run();
