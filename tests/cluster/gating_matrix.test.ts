/**
 * MicroCluster's upgrade-gating matrices as table tests of cohort's gate (`evaluateGate`).
 *
 * MicroCluster's `internal/db/db_test.go` runs `waitUpgrade` on a store holding the local
 * member's row and the other members' rows in three tables: `Test_waitUpgradeSchema` (internal
 * and app schema versions, API extensions equal), `Test_waitUpgradeAPI` (schema equal, extension
 * lists differ) and `Test_waitUpgradeSchemaAndAPI` (both). Each of its rows is a row here, under
 * its own name, with the verdict MicroCluster expects: no error is `open`, `ErrGracefulAbort` is
 * `wait`, "… is behind, please upgrade" is `refuse`. (MicroCluster stores the other rows one
 * version higher and gives the local member one more update to compensate; the versions here are
 * the ones compared.)
 *
 * The rows after them are cases the matrices leave out where cohort deliberately decides
 * otherwise than MicroCluster's rules would (`microcluster` holds MicroCluster's verdict and
 * `why` the reason); see `../shared/reference/microcluster.md` §1.12.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { evaluateGate, type GateMember } from "../../lib/cluster/gating.ts";
import type { MemberVersion } from "../../lib/cluster/compat.ts";

type Verdict = "open" | "wait" | "refuse";

interface Row {
  /** MicroCluster's case name, or what a cohort-only row shows. */
  name: string;
  local: MemberVersion;
  /** The other members' versions, named m1, m2, … in order (`undefined`: never known). */
  others: (MemberVersion | undefined)[];
  verdict: Verdict;
  /** Members the verdict must name: waited for (behind), ahead, diverged. Default none. */
  behind?: string[];
  ahead?: string[];
  diverged?: string[];
  /** Only for rows where cohort differs: MicroCluster's verdict, and why cohort does not follow. */
  microcluster?: Verdict;
  why?: string;
}

/** MicroCluster's own internal extension list in its tests, equal on every member there. */
const INTERNAL = ["internal:a"];
/** Internal schema, app schema, extensions (default: the same list everywhere). */
const v = (si: number, se: number, extensions: string[] = INTERNAL): MemberVersion => ({
  schemaInternal: si,
  schemaExternal: se,
  extensions,
});
/** Schema 1/1 everywhere; only the extension lists differ (`Test_waitUpgradeAPI`). */
const api = (...extensions: string[]) => v(1, 1, extensions);

const WAIT_UPGRADE_SCHEMA: Row[] = [
  { name: "No upgrade, no other nodes", local: v(0, 0), others: [], verdict: "open" },
  { name: "Internal upgrade, no other nodes", local: v(1, 0), others: [], verdict: "open" },
  { name: "External upgrade, no other nodes", local: v(0, 1), others: [], verdict: "open" },
  { name: "Full upgrade, no other nodes", local: v(1, 1), others: [], verdict: "open" },
  {
    name: "All other nodes ahead (internal only)",
    local: v(0, 0),
    others: [v(1, 0), v(1, 0)],
    verdict: "refuse",
    ahead: ["m1", "m2"],
  },
  {
    name: "All other nodes ahead (external only)",
    local: v(0, 0),
    others: [v(0, 1), v(0, 1)],
    verdict: "refuse",
    ahead: ["m1", "m2"],
  },
  {
    name: "All other nodes ahead (internal/external mismatch)",
    local: v(0, 0),
    others: [v(1, 0), v(0, 1)],
    verdict: "refuse",
    ahead: ["m1", "m2"],
  },
  {
    name: "All other nodes ahead (both internal/external)",
    local: v(0, 0),
    others: [v(1, 1), v(1, 1)],
    verdict: "refuse",
    ahead: ["m1", "m2"],
  },
  {
    name: "All other nodes ahead (other node is waiting)",
    local: v(0, 0),
    others: [v(2, 2), v(1, 1)],
    verdict: "refuse",
    ahead: ["m1", "m2"],
  },
  {
    name: "Some other nodes ahead (internal only)",
    local: v(0, 0),
    others: [v(0, 0), v(1, 0)],
    verdict: "refuse",
    ahead: ["m2"],
  },
  {
    name: "Some other nodes ahead (external only)",
    local: v(0, 0),
    others: [v(0, 0), v(0, 1)],
    verdict: "refuse",
    ahead: ["m2"],
  },
  {
    name: "Some other nodes ahead (both internal/external)",
    local: v(0, 0),
    others: [v(0, 0), v(1, 1)],
    verdict: "refuse",
    ahead: ["m2"],
  },
  {
    name: "All other nodes behind (internal only)",
    local: v(1, 0),
    others: [v(0, 0), v(0, 0)],
    verdict: "wait",
    behind: ["m1", "m2"],
  },
  {
    name: "All other nodes behind (external only)",
    local: v(0, 1),
    others: [v(0, 0), v(0, 0)],
    verdict: "wait",
    behind: ["m1", "m2"],
  },
  {
    name: "All other nodes behind (both internal/external)",
    local: v(1, 1),
    others: [v(0, 0), v(0, 0)],
    verdict: "wait",
    behind: ["m1", "m2"],
  },
  {
    name: "All other nodes behind (other node is waiting)",
    local: v(3, 2),
    others: [v(2, 2), v(1, 1)],
    verdict: "wait",
    behind: ["m1", "m2"],
  },
  {
    name: "Some other nodes behind (internal only)",
    local: v(1, 0),
    others: [v(0, 0), v(1, 0)],
    verdict: "wait",
    behind: ["m1"],
  },
  {
    name: "Some other nodes behind (external only)",
    local: v(0, 1),
    others: [v(0, 0), v(0, 1)],
    verdict: "wait",
    behind: ["m1"],
  },
  {
    name: "Some other nodes behind (both internal/external)",
    local: v(1, 1),
    others: [v(0, 0), v(1, 1)],
    verdict: "wait",
    behind: ["m1"],
  },
  {
    name: "Some nodes behind, others ahead (both internal/external)",
    local: v(1, 1),
    others: [v(0, 0), v(2, 2)],
    verdict: "refuse",
    behind: ["m1"],
    ahead: ["m2"],
  },
];

const WAIT_UPGRADE_API: Row[] = [
  { name: "No upgrade, no other nodes", local: api(), others: [], verdict: "open" },
  {
    name: "API upgrade, no other nodes",
    local: api("internal:a", "ext"),
    others: [],
    verdict: "open",
  },
  {
    name: "All other nodes ahead",
    local: api("internal:a", "ext"),
    others: [api("internal:a", "ext", "ext2"), api("internal:a", "ext", "ext2")],
    verdict: "refuse",
    ahead: ["m1", "m2"],
  },
  {
    name: "Some other nodes ahead",
    local: api("internal:a", "ext"),
    others: [api("internal:a", "ext"), api("internal:a", "ext", "ext2")],
    verdict: "refuse",
    ahead: ["m2"],
  },
  {
    name: "All other nodes behind",
    local: api("internal:a", "ext", "ext2"),
    others: [api("internal:a", "ext"), api("internal:a", "ext")],
    verdict: "wait",
    behind: ["m1", "m2"],
  },
  {
    name: "Some other nodes behind",
    local: api("internal:a", "ext", "ext2"),
    others: [api("internal:a", "ext", "ext2"), api("internal:a", "ext")],
    verdict: "wait",
    behind: ["m2"],
  },
  {
    name: "Some nodes behind, others ahead",
    local: api("internal:a", "ext", "ext2"),
    others: [api("internal:a", "ext"), api("internal:a", "ext", "ext2", "ext3")],
    verdict: "refuse",
    behind: ["m1"],
    ahead: ["m2"],
  },
];

const WAIT_UPGRADE_SCHEMA_AND_API: Row[] = [
  {
    name: "Local node in sync, no other nodes",
    local: v(0, 0, ["internal:a"]),
    others: [],
    verdict: "open",
  },
  {
    // MicroCluster's name says "and API", but every list in the row is ["internal:a"].
    name: "Local node behind in schema and API",
    local: v(0, 0, ["internal:a"]),
    others: [v(1, 1, ["internal:a"]), v(1, 1, ["internal:a"])],
    verdict: "refuse",
    ahead: ["m1", "m2"],
  },
  {
    name: "Local node ahead, all other nodes behind",
    local: v(2, 2, ["internal:a", "b", "c"]),
    others: [v(1, 1, ["internal:a", "b", "c"]), v(1, 1, ["internal:a", "b", "c"])],
    verdict: "wait",
    behind: ["m1", "m2"],
  },
  {
    name: "Mixed node versions, some ahead and some behind",
    local: v(1, 1, ["internal:a", "b"]),
    others: [v(2, 2, ["internal:a", "b"]), v(0, 0, ["internal:a", "b"])],
    verdict: "refuse",
    ahead: ["m1"],
    behind: ["m2"],
  },
];

/** Cases outside MicroCluster's matrices where cohort's rule is deliberately another. */
const COHORT_DIFFERS: Row[] = [
  {
    name: "A member's extension list diverged but is shorter",
    local: api("internal:a", "b", "c"),
    others: [api("internal:a", "x")],
    verdict: "refuse",
    diverged: ["m1"],
    microcluster: "wait",
    why: "MicroCluster compares extension counts only (2 < 3: behind) and would wait for an " +
      "upgrade that can never make the lists equal; lists are append-only, so cohort refuses a " +
      "list that is not a prefix of its own and names the entries on both sides",
  },
  {
    name: "A member's extension list has the same length and other entries",
    local: api("internal:a", "b"),
    others: [api("internal:a", "c")],
    verdict: "refuse",
    diverged: ["m1"],
    microcluster: "refuse",
    why: "Same verdict, another reason: MicroCluster says this member's extensions are behind " +
      "(upgrading would not help); cohort says they diverged",
  },
  {
    name: "One member ahead in internal schema, behind in app schema",
    local: v(1, 1),
    others: [v(2, 0)],
    verdict: "refuse",
    diverged: ["m1"],
    microcluster: "refuse",
    why: "Same verdict: MicroCluster errors on the internal schema before looking further; " +
      "cohort reports the member as diverged, naming both schema versions",
  },
  {
    name: "A member whose versions were never known",
    local: v(1, 1),
    others: [undefined, v(1, 1)],
    verdict: "open",
    microcluster: "wait",
    why: "MicroCluster reads a row with no extension list as behind and waits; cohort only " +
      "counts a member once it has heard its versions (from it, or persisted from before a " +
      "restart), so a roster entry with none takes no part",
  },
];

function run(title: string, rows: Row[]): void {
  const test = suite(title);
  rows.forEach((row, i) => {
    const note = row.microcluster && row.microcluster !== row.verdict
      ? ` (MicroCluster: ${row.microcluster})`
      : "";
    test(`${row.name} (case ${i}): ${row.verdict}${note}`, () => {
      const members: GateMember[] = row.others.map((version, j) => ({
        name: `m${j + 1}`,
        version,
        up: true,
      }));
      const d = evaluateGate(row.local, members, { now: 1_000_000 });
      const names = (list: { name: string }[]) => list.map((x) => x.name);
      assert.is(d.decision, row.verdict, d.message);
      assert.equal(names(d.behind), row.behind ?? [], "members behind");
      assert.equal(names(d.ahead), row.ahead ?? [], "members ahead");
      assert.equal(names(d.diverged), row.diverged ?? [], "members diverged");
      if (row.verdict === "refuse" && row.ahead?.length && !row.diverged?.length) {
        assert.match(d.message, /behind, please upgrade/);
      }
      if (row.verdict === "wait") assert.match(d.message, /^Waiting for \d+ members? to upgrade/);
      if (row.microcluster) assert.ok(row.why && row.why.length > 20, "a differing row says why");
    });
  });
  test.run();
}

run("MicroCluster Test_waitUpgradeSchema → evaluateGate()", WAIT_UPGRADE_SCHEMA);
run("MicroCluster Test_waitUpgradeAPI → evaluateGate()", WAIT_UPGRADE_API);
run("MicroCluster Test_waitUpgradeSchemaAndAPI → evaluateGate()", WAIT_UPGRADE_SCHEMA_AND_API);
run("evaluateGate() where cohort's rule differs from MicroCluster's", COHORT_DIFFERS);
