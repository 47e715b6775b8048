/**
 * MicroCluster's own gating matrices (canonical/microcluster `internal/db/db_test.go`:
 * `Test_waitUpgradeSchema`, `Test_waitUpgradeAPI`, `Test_waitUpgradeSchemaAndAPI`) as table tests
 * of cohort's gate. Each case keeps MicroCluster's name; its "error" is cohort's `refuse`, its
 * graceful abort (wait for the others) cohort's `wait`, no error cohort's `open`. MicroCluster's
 * rows store the number of applied updates (its cases write `version + 1`); cohort's versions are
 * counts too, so the cases' versions are used as they are. The rows' roll-back on an error is
 * cohort's "a refused start announces nothing" (tests/e2e/upgrade_refused.test.ts).
 *
 * One deliberate difference: MicroCluster calls a list "behind" when it is merely shorter,
 * cohort only when it is a prefix (a shorter list that differs is diverged, and refused); no case
 * below has such lists.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { MemberVersion } from "../../lib/cluster/compat.ts";
import { evaluateGate } from "../../lib/cluster/gating.ts";

type Outcome = "open" | "wait" | "refuse";
interface Case {
  name: string;
  local: MemberVersion;
  others: MemberVersion[];
  expect: Outcome;
}

const INTERNAL = ["internal:runtime_extension_v1"];
const schema = (si: number, se: number): MemberVersion => ({
  schemaInternal: si,
  schemaExternal: se,
  extensions: INTERNAL,
});
const api = (...extensions: string[]): MemberVersion => ({
  schemaInternal: 1,
  schemaExternal: 1,
  extensions,
});
const both = (si: number, se: number, ...extensions: string[]): MemberVersion => ({
  schemaInternal: si,
  schemaExternal: se,
  extensions,
});

const SCHEMA: Case[] = [
  { name: "No upgrade, no other nodes", local: schema(0, 0), others: [], expect: "open" },
  { name: "Internal upgrade, no other nodes", local: schema(1, 0), others: [], expect: "open" },
  { name: "External upgrade, no other nodes", local: schema(0, 1), others: [], expect: "open" },
  { name: "Full upgrade, no other nodes", local: schema(1, 1), others: [], expect: "open" },
  {
    name: "All other nodes ahead (internal only)",
    local: schema(0, 0),
    others: [schema(1, 0), schema(1, 0)],
    expect: "refuse",
  },
  {
    name: "All other nodes ahead (external only)",
    local: schema(0, 0),
    others: [schema(0, 1), schema(0, 1)],
    expect: "refuse",
  },
  {
    name: "All other nodes ahead (internal/external mismatch)",
    local: schema(0, 0),
    others: [schema(1, 0), schema(0, 1)],
    expect: "refuse",
  },
  {
    name: "All other nodes ahead (both internal/external)",
    local: schema(0, 0),
    others: [schema(1, 1), schema(1, 1)],
    expect: "refuse",
  },
  {
    name: "All other nodes ahead (other node is waiting)",
    local: schema(0, 0),
    others: [schema(2, 2), schema(1, 1)],
    expect: "refuse",
  },
  {
    name: "Some other nodes ahead (internal only)",
    local: schema(0, 0),
    others: [schema(0, 0), schema(1, 0)],
    expect: "refuse",
  },
  {
    name: "Some other nodes ahead (external only)",
    local: schema(0, 0),
    others: [schema(0, 0), schema(0, 1)],
    expect: "refuse",
  },
  {
    name: "Some other nodes ahead (both internal/external)",
    local: schema(0, 0),
    others: [schema(0, 0), schema(1, 1)],
    expect: "refuse",
  },
  {
    name: "All other nodes behind (internal only)",
    local: schema(1, 0),
    others: [schema(0, 0), schema(0, 0)],
    expect: "wait",
  },
  {
    name: "All other nodes behind (external only)",
    local: schema(0, 1),
    others: [schema(0, 0), schema(0, 0)],
    expect: "wait",
  },
  {
    name: "All other nodes behind (both internal/external)",
    local: schema(1, 1),
    others: [schema(0, 0), schema(0, 0)],
    expect: "wait",
  },
  {
    name: "All other nodes behind (other node is waiting)",
    local: schema(3, 2),
    others: [schema(2, 2), schema(1, 1)],
    expect: "wait",
  },
  {
    name: "Some other nodes behind (internal only)",
    local: schema(1, 0),
    others: [schema(0, 0), schema(1, 0)],
    expect: "wait",
  },
  {
    name: "Some other nodes behind (external only)",
    local: schema(0, 1),
    others: [schema(0, 0), schema(0, 1)],
    expect: "wait",
  },
  {
    name: "Some other nodes behind (both internal/external)",
    local: schema(1, 1),
    others: [schema(0, 0), schema(1, 1)],
    expect: "wait",
  },
  {
    name: "Some nodes behind, others ahead (both internal/external)",
    local: schema(1, 1),
    others: [schema(0, 0), schema(2, 2)],
    expect: "refuse",
  },
];

const API: Case[] = [
  { name: "No upgrade, no other nodes", local: api(), others: [], expect: "open" },
  {
    name: "API upgrade, no other nodes",
    local: api("internal:a", "ext"),
    others: [],
    expect: "open",
  },
  {
    name: "All other nodes ahead",
    local: api("internal:a", "ext"),
    others: [api("internal:a", "ext", "ext2"), api("internal:a", "ext", "ext2")],
    expect: "refuse",
  },
  {
    name: "Some other nodes ahead",
    local: api("internal:a", "ext"),
    others: [api("internal:a", "ext"), api("internal:a", "ext", "ext2")],
    expect: "refuse",
  },
  {
    name: "All other nodes behind",
    local: api("internal:a", "ext", "ext2"),
    others: [api("internal:a", "ext"), api("internal:a", "ext")],
    expect: "wait",
  },
  {
    name: "Some other nodes behind",
    local: api("internal:a", "ext", "ext2"),
    others: [api("internal:a", "ext", "ext2"), api("internal:a", "ext")],
    expect: "wait",
  },
  {
    name: "Some nodes behind, others ahead",
    local: api("internal:a", "ext", "ext2"),
    others: [api("internal:a", "ext"), api("internal:a", "ext", "ext2", "ext3")],
    expect: "refuse",
  },
];

const SCHEMA_AND_API: Case[] = [
  {
    name: "Local node in sync, no other nodes",
    local: both(0, 0, "internal:a"),
    others: [],
    expect: "open",
  },
  {
    name: "Local node behind in schema and API",
    local: both(0, 0, "internal:a"),
    others: [both(1, 1, "internal:a"), both(1, 1, "internal:a")],
    expect: "refuse",
  },
  {
    name: "Local node ahead, all other nodes behind",
    local: both(2, 2, "internal:a", "b", "c"),
    others: [both(1, 1, "internal:a", "b", "c"), both(1, 1, "internal:a", "b", "c")],
    expect: "wait",
  },
  {
    name: "Mixed node versions, some ahead and some behind",
    local: both(1, 1, "internal:a", "b"),
    others: [both(2, 2, "internal:a", "b"), both(0, 0, "internal:a", "b")],
    expect: "refuse",
  },
];

for (
  const [title, cases] of [
    ["Test_waitUpgradeSchema", SCHEMA],
    ["Test_waitUpgradeAPI", API],
    ["Test_waitUpgradeSchemaAndAPI", SCHEMA_AND_API],
  ] as const
) {
  const test = suite(`MicroCluster's ${title}`);
  for (const c of cases) {
    test(`${c.name}: ${c.expect}`, () => {
      const members = c.others.map((version, i) => ({ name: `m${i + 1}`, version, up: true }));
      const d = evaluateGate(c.local, members, { now: 0 });
      assert.is(d.decision, c.expect, d.message);
      if (c.expect === "refuse") {
        assert.match(d.message, /behind, please upgrade|diverged/, "names why");
      }
    });
  }
  test.run();
}
