import { suite } from "uvu";
import * as assert from "uvu/assert";
import { compareVersions, describeVersions, type MemberVersion } from "../../lib/cluster/compat.ts";

const test = suite("compareVersions()");
const v = (si: number, se: number, ...extensions: string[]): MemberVersion => ({
  schemaInternal: si,
  schemaExternal: se,
  extensions,
});

test("equal in all parts is equal", () => {
  assert.is(compareVersions(v(1, 1, "a"), v(1, 1, "a")).verdict, "equal");
});
test("ahead only in app schema is ahead", () => {
  const c = compareVersions(v(1, 2, "a"), v(1, 1, "a"));
  assert.is(c.verdict, "ahead");
  assert.is(c.schemaExternal, "ahead");
});
test("ahead in extensions and schema together is one ahead, not two", () => {
  assert.is(compareVersions(v(2, 2, "a", "b"), v(1, 1, "a")).verdict, "ahead");
});
test("behind in extensions only is behind", () => {
  assert.is(compareVersions(v(1, 1, "a"), v(1, 1, "a", "b")).verdict, "behind");
});
test("ahead in schema but behind in extensions is diverged", () => {
  assert.is(compareVersions(v(2, 1, "a"), v(1, 1, "a", "b")).verdict, "diverged");
});
test("diverged extensions make the whole verdict diverged", () => {
  assert.is(compareVersions(v(1, 1, "a", "x"), v(1, 1, "a", "y")).verdict, "diverged");
});
test("describeVersions() names every differing part", () => {
  assert.is(
    describeVersions(v(2, 1, "a"), v(1, 1, "a", "b")),
    'internal schema version 2 vs 1; extensions: lacks "b"',
  );
  assert.is(describeVersions(v(1, 1), v(1, 1)), "");
});

test.run();
