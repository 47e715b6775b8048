/**
 * The cluster's common extension list counts a member that is down with the versions it last
 * ran, until the upgrade's dead grace has passed: the list does not grow while the last old member
 * restarts (and shrink again when it is back), which would switch an app's cluster-wide feature on
 * and off.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { extensionsReport } from "../../lib/daemon/upgrade.ts";
import type { ClusterView } from "../../lib/daemon/view.ts";

const OLD = ["a"];
const NEW = ["a", "b"];

interface Fake {
  extensions: string[];
  up: boolean;
  downSince?: number;
}

/** A view of m1 (running NEW) over the given other members. */
function view(others: Record<string, Fake>): ClusterView {
  const all: Record<string, Fake> = { m1: { extensions: NEW, up: true }, ...others };
  const version = (extensions: string[]) => ({ schemaInternal: 1, schemaExternal: 0, extensions });
  return {
    name: "m1",
    local: version(NEW),
    roster: () => new Map(Object.keys(all).map((n) => [n, {}])),
    versionOf: (n: string) => all[n] && version(all[n].extensions),
    liveness: (n: string) => ({ up: all[n].up, downSince: all[n].downSince }),
  } as unknown as ClusterView;
}

const test = suite("the cluster's common extensions");

test("a member that stopped still counts with what it last ran (no grace: always)", () => {
  const v = view({
    m2: { extensions: NEW, up: true },
    m3: { extensions: OLD, up: false, downSince: 1_000 },
  });
  assert.equal(extensionsReport(v, { now: 1_000_000 }).cluster, OLD);
  assert.equal(extensionsReport(v, { now: 1_000_000, deadGraceMs: 0 }).cluster, OLD);
});

test("within the dead grace a down member counts; past it, it no longer holds the list back", () => {
  const v = view({
    m2: { extensions: NEW, up: true },
    m3: { extensions: OLD, up: false, downSince: 10_000 },
  });
  assert.equal(extensionsReport(v, { now: 15_000, deadGraceMs: 60_000 }).cluster, OLD);
  assert.equal(extensionsReport(v, { now: 70_000, deadGraceMs: 60_000 }).cluster, OLD);
  assert.equal(extensionsReport(v, { now: 70_001, deadGraceMs: 60_000 }).cluster, NEW);
});

test("the list grows once the last member runs the new extensions, up or down", () => {
  const v = view({
    m2: { extensions: NEW, up: true },
    m3: { extensions: NEW, up: false, downSince: 10_000 },
  });
  assert.equal(extensionsReport(v, { now: 11_000 }).cluster, NEW);
});

test.run();
