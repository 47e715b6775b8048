import { suite } from "uvu";
import * as assert from "uvu/assert";
import { commonExtensions, evaluateGate, type GateMember } from "../../lib/cluster/gating.ts";
import type { MemberVersion } from "../../lib/cluster/compat.ts";

const test = suite("evaluateGate()");
const v = (si: number, se: number, ...extensions: string[]): MemberVersion => ({
  schemaInternal: si,
  schemaExternal: se,
  extensions,
});
const up = (name: string, version?: MemberVersion): GateMember => ({ name, version, up: true });
const NOW = 1_000_000;
const LOCAL = v(2, 1, "a", "b");

test("no other member opens", () => {
  assert.is(evaluateGate(LOCAL, [], { now: NOW }).decision, "open");
});

test("all equal opens", () => {
  const d = evaluateGate(LOCAL, [up("m2", v(2, 1, "a", "b")), up("m3", v(2, 1, "a", "b"))], {
    now: NOW,
  });
  assert.is(d.decision, "open");
  assert.equal([d.behind, d.ahead, d.diverged], [[], [], []]);
});

test("members behind in extensions only: wait, naming them and what they lack", () => {
  const d = evaluateGate(LOCAL, [up("m2", v(2, 1, "a")), up("m3", v(2, 1, "a", "b"))], {
    now: NOW,
  });
  assert.is(d.decision, "wait");
  assert.equal(d.behind, [{ name: "m2", detail: 'extensions: lacks "b"' }]);
  assert.match(d.message, /^Waiting for 1 member to upgrade: "m2"/);
});

test("members behind in app schema and extensions at once: one wait", () => {
  const d = evaluateGate(LOCAL, [up("m2", v(2, 0, "a"))], { now: NOW });
  assert.is(d.decision, "wait");
  assert.is(d.behind.length, 1);
});

test("a member ahead refuses: this member must upgrade, told what it lacks", () => {
  const d = evaluateGate(LOCAL, [up("m2", v(2, 1, "a")), up("m3", v(2, 1, "a", "b", "c"))], {
    now: NOW,
  });
  assert.is(d.decision, "refuse");
  assert.match(d.message, /^This member's version is behind, please upgrade/);
  assert.match(d.message, /"m3" \(extensions: lacks "c"\)/);
});

test("a member ahead in schema only refuses", () => {
  const d = evaluateGate(LOCAL, [up("m2", v(3, 1, "a", "b"))], { now: NOW });
  assert.is(d.decision, "refuse");
  assert.match(d.message, /internal schema version 2 vs 3/);
});

test("diverged lists refuse, naming the entries on both sides", () => {
  const d = evaluateGate(LOCAL, [up("m2", v(2, 1, "a", "x"))], { now: NOW });
  assert.is(d.decision, "refuse");
  assert.match(d.message, /diverged/);
  assert.match(d.message, /lacks "x"; has "b" that the other lacks/);
});

test("a down member counts with its last known version", () => {
  const d = evaluateGate(LOCAL, [{ name: "m2", version: v(2, 1, "a"), up: false, downSince: 0 }], {
    now: NOW,
  });
  assert.is(d.decision, "wait");
});

test("a member down longer than the grace period is excluded and named", () => {
  const m: GateMember = { name: "m2", version: v(2, 1, "a"), up: false, downSince: NOW - 5000 };
  assert.is(evaluateGate(LOCAL, [m], { now: NOW, deadGraceMs: 10_000 }).decision, "wait");
  const d = evaluateGate(LOCAL, [m], { now: NOW, deadGraceMs: 1000 });
  assert.is(d.decision, "open");
  assert.equal(d.excluded, ["m2"]);
  assert.match(d.message, /excluded after the grace period: "m2"/);
});

test("a member with no known version takes no part", () => {
  assert.is(evaluateGate(LOCAL, [up("m2")], { now: NOW }).decision, "open");
});

test("commonExtensions() is the longest shared prefix", () => {
  assert.equal(commonExtensions([["a", "b", "c"], ["a", "b"], ["a", "b", "d"]]), ["a", "b"]);
  assert.equal(commonExtensions([["a"], ["b"]]), []);
  assert.equal(commonExtensions([]), []);
  assert.equal(commonExtensions([["a", "b"]]), ["a", "b"]);
});

test("commonExtensions() is the shared prefix of internal names, then of app names", () => {
  const OLD = ["internal:a", "feature_a", "feature_b"];
  const NEW = ["internal:a", "internal:b", "feature_a", "feature_b", "feature_c"];
  assert.equal(commonExtensions([NEW, OLD]), OLD, "the app's names stay common");
  assert.equal(commonExtensions([OLD, NEW]), OLD);
  assert.equal(commonExtensions([NEW, NEW]), NEW);
  assert.equal(commonExtensions([["internal:a", "x"], ["internal:b", "x"]]), ["x"]);
});

test("a member whose only change is an appended internal name is behind: the upgraded one waits", () => {
  const local = v(2, 1, "internal:a", "internal:b", "a", "b");
  const d = evaluateGate(local, [up("m2", v(2, 1, "internal:a", "a", "b"))], { now: NOW });
  assert.is(d.decision, "wait");
  assert.equal(d.behind.map((b) => b.name), ["m2"]);
  const old = evaluateGate(v(2, 1, "internal:a", "a", "b"), [up("m2", local)], { now: NOW });
  assert.is(old.decision, "refuse", "an old member restarting beside an upgraded one");
  assert.equal(old.ahead.map((b) => b.name), ["m2"]);
});

test.run();
