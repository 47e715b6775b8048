import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { MemberVersion } from "../../lib/cluster/compat.ts";
import { UpgradeGate, type UpgradeGateOptions } from "../../lib/daemon/gating.ts";
import { silentLogger } from "../../lib/log.ts";

/** A scriptable view: versions and liveness by name, and the gossip events the gate listens to. */
class FakeView {
  versions = new Map<string, MemberVersion>();
  down = new Map<string, number>();
  listeners = new Map<string, (() => void)[]>();
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
  on(event: string, fn: () => void): () => void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
    return () =>
      this.listeners.set(event, (this.listeners.get(event) ?? []).filter((f) => f !== fn));
  }
  emit(event: string): void {
    for (const fn of this.listeners.get(event) ?? []) fn();
  }
  subscribed(): number {
    return [...this.listeners.values()].reduce((n, l) => n + l.length, 0);
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
  const g = new UpgradeGate({
    name: "m1",
    local: NEW,
    gossip: view as unknown as UpgradeGateOptions["gossip"],
    membership: view as unknown as UpgradeGateOptions["membership"],
    logger: silentLogger,
    onOpen: (waited) => void opened.push(waited),
    ...extra,
  });
  return { g, opened };
}

const test = suite("UpgradeGate");

test("waits while a member is behind and opens once on the view change that fixes it", () => {
  const view = new FakeView();
  view.versions.set("m1", NEW).set("m2", NEW).set("m3", OLD);
  const { g, opened } = gate(view);
  assert.is(g.begin().decision, "wait");
  assert.equal(g.waitingFor(), ["m3"]);
  view.emit("member-update"); // nothing changed yet
  assert.equal(opened, []);
  view.versions.set("m3", NEW);
  view.emit("member-update");
  assert.is(opened.length, 1);
  assert.ok(opened[0] >= 0);
  assert.equal(g.waitingFor(), []);
  assert.is(view.subscribed(), 0, "stops listening once open");
  view.emit("member-update");
  assert.is(opened.length, 1, "opens once");
});

test("a change that came with no event is picked up by the next re-check (nothing is lost)", () => {
  const view = new FakeView();
  view.versions.set("m1", NEW).set("m2", OLD);
  const { g, opened } = gate(view);
  g.begin();
  view.versions.set("m2", NEW); // e.g. learnt before the gate subscribed
  g.recheck(); // any later event or a PATCH nudge
  assert.is(opened.length, 1);
});

test("a member down longer than the grace period is excluded by a timer, without any event", async () => {
  const view = new FakeView();
  view.versions.set("m1", NEW).set("m2", OLD);
  view.down.set("m2", Date.now());
  const { g, opened } = gate(view, { deadGraceMs: 100 });
  assert.is(g.begin().decision, "wait");
  await new Promise((r) => setTimeout(r, 250));
  assert.is(opened.length, 1);
  assert.equal(g.decision?.excluded, ["m2"]);
});

test("mixed serves at once while members are behind", () => {
  const view = new FakeView();
  view.versions.set("m1", NEW).set("m2", OLD);
  const { g, opened } = gate(view, { policy: "mixed" });
  assert.is(g.begin().decision, "wait");
  assert.equal(g.waitingFor(), [], "it does not wait");
  assert.equal(opened, [], "and has nothing to open later");
  assert.is(view.subscribed(), 0);
});

test("refuses at start when a member is ahead", () => {
  const view = new FakeView();
  view.versions.set("m1", OLD).set("m2", NEW);
  const { g } = gate(view, { local: OLD });
  const d = g.begin();
  assert.is(d.decision, "refuse");
  assert.match(d.message, /"m2" \(extensions: lacks "b"\)/);
});

test.run();
