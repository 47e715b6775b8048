/**
 * UpgradeGate at run time, on a scriptable view and the simulated clock: it waits while a member
 * is behind and opens on the re-check (every view change is one) that finds everyone caught up;
 * a grace period running out re-decides by itself; mixed serves at once; a member ahead refuses.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SimClock } from "../../gossip/sim_clock.ts";
import type { MemberVersion } from "../../lib/cluster/compat.ts";
import { Background } from "../../lib/daemon/background.ts";
import { UpgradeGate, type UpgradeGateOptions } from "../../lib/daemon/gating.ts";
import { silentLogger } from "../../lib/log.ts";

/** A scriptable view: versions and liveness by name (m1 is this member). */
class FakeView {
  name = "m1";
  versions = new Map<string, MemberVersion>();
  down = new Map<string, number>();
  roster(): Map<string, unknown> {
    return new Map([...this.versions.keys()].map((n) => [n, {}]));
  }
  versionOf(name: string): MemberVersion | undefined {
    return this.versions.get(name);
  }
  liveness(name: string): { up: boolean; downSince?: number } {
    const since = this.down.get(name);
    return since === undefined ? { up: true } : { up: false, downSince: since };
  }
}

const v = (...extensions: string[]): MemberVersion => ({
  schemaInternal: 2,
  schemaExternal: 0,
  extensions,
});
const NEW = v("a", "b");
const OLD = v("a");

function gate(view: FakeView, extra: Partial<UpgradeGateOptions> = {}) {
  const opened: number[] = [];
  const clock = new SimClock(1_000_000);
  const g = new UpgradeGate({
    code: NEW,
    view: view as unknown as UpgradeGateOptions["view"],
    clock,
    background: new Background(clock, silentLogger),
    logger: silentLogger,
    onOpen: (waited) => void opened.push(waited),
    ...extra,
  });
  return { g, opened, clock };
}

const test = suite("UpgradeGate");

test("waits while a member is behind and opens once on the re-check that finds it caught up", () => {
  const view = new FakeView();
  view.versions.set("m1", NEW).set("m2", NEW).set("m3", OLD);
  const { g, opened, clock } = gate(view);
  assert.is(g.begin().decision, "wait");
  assert.equal(g.waitingFor(), ["m3"]);
  g.recheck(); // a view change that changed nothing for the gate
  assert.equal(opened, []);
  clock.advance(1500);
  view.versions.set("m3", NEW);
  g.recheck();
  assert.equal(opened, [1500], "opens with how long it waited");
  assert.equal(g.waitingFor(), []);
  g.recheck();
  assert.is(opened.length, 1, "opens once");
});

test("a member down longer than the grace period is excluded by a timer, without any view change", () => {
  const view = new FakeView();
  view.versions.set("m1", NEW).set("m2", OLD);
  const { g, opened, clock } = gate(view, { deadGraceMs: 100 });
  view.down.set("m2", clock.now());
  assert.is(g.begin().decision, "wait");
  clock.advance(100);
  assert.equal(opened, [], "not before the grace has passed");
  clock.advance(1);
  assert.is(opened.length, 1);
  assert.equal(g.decision?.excluded, ["m2"]);
});

test("mixed serves at once while members are behind", () => {
  const view = new FakeView();
  view.versions.set("m1", NEW).set("m2", OLD);
  const { g, opened } = gate(view, { policy: "mixed" });
  const d = g.begin();
  assert.is(d.decision, "wait");
  assert.ok(d.serve);
  assert.equal(g.waitingFor(), [], "it does not wait");
  g.recheck();
  assert.equal(opened, [], "and has nothing to open later");
});

test("refuses at start when a member is ahead, naming it and what this member lacks", () => {
  const view = new FakeView();
  view.versions.set("m1", OLD).set("m2", NEW);
  const { g } = gate(view, { code: OLD });
  const d = g.begin();
  assert.is(d.decision, "refuse");
  assert.not.ok(d.serve);
  assert.match(d.message, /"m2" \(extensions: lacks "b"\)/);
});

test.run();
