/**
 * Settled roles (RoleTracker) on a scriptable gossip view and the simulated clock: a change of the
 * roster is adopted at once; a change that comes only from liveness (a member restarting) waits
 * for the view to settle and is dropped when the member comes back in time; a restarted member
 * starts from the roles its store remembered; announced roles that disagree are warned about
 * once they held for two ticks.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SimClock } from "../../gossip/sim_clock.ts";
import type { MemberInfo, MemberState } from "../../lib/cluster/membership.ts";
import type { ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import type { Role } from "../../lib/cluster/roles.ts";
import { Background } from "../../lib/daemon/background.ts";
import { RoleTracker } from "../../lib/daemon/roles.ts";
import { ClusterView, type ClusterViewOptions } from "../../lib/daemon/view.ts";
import { type Logger, silentLogger } from "../../lib/log.ts";
import type { Member as StoredMember } from "../../lib/store/members.ts";

const VERSION = { schemaInternal: 1, schemaExternal: 0, extensions: ["internal:x"] };
const SETTLE = 8000;

/** A scriptable gossip view: the roster as `member` records, members by name, events. */
class FakeGossip {
  records_ = new Map<string, ReplicatedRecord>();
  members = new Map<string, MemberInfo>();
  listeners = new Map<string, ((e: unknown) => void)[]>();

  admit(name: string, joinedAt: number, joining = false): void {
    const value = {
      address: `${name}:1`,
      certificate: name,
      fingerprint: name,
      joinedAt,
      ...(joining ? { joining } : {}),
    };
    const previous = this.records_.get(name);
    const record = { kind: MEMBER_RECORD, key: name, value, version: 1, origin: name };
    this.records_.set(name, record);
    for (const fn of this.listeners.get("record-change") ?? []) fn({ record, previous });
  }
  /** Sets `name`'s state (announcing `role`) and tells the listeners. */
  set(name: string, state: MemberState, role = "voter"): void {
    const member = {
      name,
      state,
      incarnation: 1,
      meta: { role } as MemberInfo["meta"],
      lastHeartbeat: 0,
      stateChangedAt: 0,
    } satisfies MemberInfo;
    const event = state === "left"
      ? "member-left"
      : this.members.has(name)
      ? "member-update"
      : "member-join";
    this.members.set(name, member);
    for (const fn of this.listeners.get(event) ?? []) fn({ member });
  }
  records(kind: string): ReplicatedRecord[] {
    return kind === MEMBER_RECORD ? [...this.records_.values()] : [];
  }
  record(kind: string, key: string): ReplicatedRecord | undefined {
    return kind === MEMBER_RECORD ? this.records_.get(key) : undefined;
  }
  member(name: string): MemberInfo | undefined {
    return this.members.get(name);
  }
  on(event: string, fn: (e: unknown) => void): () => void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
    return () => {};
  }
  updateMeta(): void {}
  extensionStatus(): undefined {
    return undefined;
  }
}

/** A logger that keeps its warnings. */
function recordingLogger(warnings: { msg: string; fields?: Record<string, unknown> }[]): Logger {
  const logger: Logger = {
    ...silentLogger,
    level: silentLogger.level,
    debug: () => {},
    info: () => {},
    error: () => {},
    warn: (msg, fields) => void warnings.push({ msg, fields: fields as Record<string, unknown> }),
    child: () => logger,
  };
  return logger;
}

/** A stored member row with `role` and a heartbeat (it was seen before the restart). */
function row(name: string, role: Role): StoredMember {
  return {
    id: 0,
    name,
    address: `${name}:1`,
    certificate: name,
    schemaInternal: 1,
    schemaExternal: 0,
    heartbeat: 1000,
    role,
    extensions: ["internal:x"],
    appVersion: "",
  };
}

/**
 * m1 (this member), m2 and m3 in the roster; `stored` rows as the store remembered them. The
 * tracker re-applies the rule on every view change, as the network's dispatch does.
 */
function setup(stored: StoredMember[] = []) {
  const clock = new SimClock(1_000_000);
  const gossip = new FakeGossip();
  gossip.admit("m1", 1);
  gossip.admit("m2", 2);
  gossip.admit("m3", 3);
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  const changes: string[] = [];
  const ref: { tracker?: RoleTracker } = {};
  const view = new ClusterView({
    name: "m1",
    gossip: gossip as unknown as ClusterViewOptions["gossip"],
    stored,
    local: VERSION,
    onChanges: () => ref.tracker?.update(),
    onTrustShrunk: () => {},
  });
  const tracker = new RoleTracker({
    view,
    stored: new Map(stored.map((m) => [m.name, m.role as Role])),
    settleMs: SETTLE,
    background: new Background(clock, silentLogger),
    logger: recordingLogger(warnings),
    onOwnRoleChange: (role, previous) => void changes.push(`${previous}->${role}`),
  });
  ref.tracker = tracker;
  view.start();
  tracker.update();
  const roleWarnings = () =>
    warnings.filter((w) => w.msg === "A member announces a role the rule does not give it");
  const roles = () => [...tracker.roles()].sort().map(([n, r]) => `${n}=${r}`).join(",");
  return { clock, gossip, tracker, changes, roles, roleWarnings };
}

const test = suite("RoleTracker");

test("a new cluster's roles are adopted at once (a roster change is a decision, not noise)", () => {
  const { gossip, roles, changes } = setup();
  gossip.set("m2", "alive");
  gossip.set("m3", "alive");
  assert.is(roles(), "m1=voter,m2=voter,m3=voter");
  assert.equal(changes, ["PENDING->voter"]);
});

test("a member that restarts within the settle time changes no role, on any member", () => {
  const stored = [row("m1", "voter"), row("m2", "voter"), row("m3", "voter")];
  const { gossip, clock, roles, changes } = setup(stored);
  gossip.set("m2", "alive");
  gossip.set("m3", "alive");
  assert.is(roles(), "m1=voter,m2=voter,m3=voter");
  gossip.set("m3", "left"); // a graceful stop: two live members would make m2 a stand-by
  clock.advance(SETTLE - 1000);
  assert.is(roles(), "m1=voter,m2=voter,m3=voter", "still the settled roles");
  gossip.set("m3", "alive"); // back
  clock.advance(SETTLE * 2);
  assert.is(roles(), "m1=voter,m2=voter,m3=voter");
  assert.equal(changes, [], "no onHeartbeat");
});

test("a liveness change that holds for the settle time is adopted", () => {
  const stored = [row("m1", "voter"), row("m2", "voter"), row("m3", "voter")];
  const { gossip, clock, roles } = setup(stored);
  gossip.set("m2", "alive");
  gossip.set("m3", "alive");
  gossip.set("m1", "alive");
  gossip.set("m2", "dead");
  clock.advance(SETTLE - 1);
  assert.is(roles(), "m1=voter,m2=voter,m3=voter");
  clock.advance(1);
  assert.is(roles(), "m1=voter,m2=spare,m3=stand-by");
});

test("a restarted member starts from its stored roles: not PENDING, and no change once it hears the others", () => {
  const stored = [row("m1", "stand-by"), row("m2", "voter"), row("m3", "voter")];
  // m1 joined last in this history: give it the latest join time.
  const { gossip, tracker, clock, changes } = setup(stored);
  assert.is(tracker.own, "stand-by");
  gossip.set("m2", "alive");
  gossip.set("m3", "alive");
  clock.advance(SETTLE * 2);
  assert.ok(["voter", "stand-by"].includes(tracker.own));
  assert.ok(changes.length <= 1, changes.join(","));
});

test("a member back after the others adopted its absence announces its old role unwarned while they settle back", () => {
  // Met by the soak (a member SIGSTOPped 20 s): once back, it announced the role it never lost in
  // its own view, while the others' settled roles still held it down until their own settle
  // time (15 s) adopted it back; each of them warned once per member and role pair.
  const stored = [row("m1", "voter"), row("m2", "voter"), row("m3", "voter")];
  const { gossip, clock, tracker, roles, roleWarnings } = setup(stored);
  gossip.set("m2", "alive");
  gossip.set("m3", "alive");
  gossip.set("m3", "dead");
  clock.advance(SETTLE);
  assert.is(roles(), "m1=voter,m2=stand-by,m3=spare", "m3's absence adopted");
  gossip.set("m2", "alive", "stand-by");
  gossip.set("m3", "alive", "voter"); // back, as it was in its own view
  for (let tick = 0; tick < 5; tick++) {
    tracker.checkAnnounced();
    clock.advance(1000);
  }
  assert.equal(roleWarnings(), [], "the rule itself is about to give it that role");
  clock.advance(SETTLE);
  assert.is(roles(), "m1=voter,m2=voter,m3=voter", "settled back");
  gossip.set("m2", "alive", "voter");
  tracker.checkAnnounced();
  tracker.checkAnnounced();
  assert.equal(roleWarnings(), []);
  // A role the rule would not give it, settling or not, is still warned about.
  gossip.set("m3", "alive", "spare");
  tracker.checkAnnounced();
  tracker.checkAnnounced();
  assert.equal(roleWarnings().map((w) => w.fields), [
    { member: "m3", announced: "spare", expected: "voter" },
  ]);
});

test("a member whose join has not completed stays PENDING, then ranks by its join time at once", () => {
  const { gossip, tracker } = setup();
  gossip.set("m2", "alive");
  gossip.set("m3", "alive");
  gossip.admit("m4", 4, true);
  gossip.set("m4", "alive", "PENDING");
  assert.is(tracker.roles().get("m4"), "PENDING");
  assert.is(tracker.roles().size, 4);
  gossip.admit("m4", 4); // its preJoin passed: it clears the mark
  assert.is(tracker.roles().get("m4"), "stand-by");
});

test("an announced role that disagrees is warned about on its second tick, once", () => {
  const { gossip, tracker, roleWarnings } = setup();
  gossip.set("m2", "alive");
  gossip.set("m3", "alive");
  tracker.checkAnnounced();
  assert.equal(roleWarnings(), []);
  gossip.set("m3", "alive", "spare");
  tracker.checkAnnounced();
  assert.equal(roleWarnings(), [], "one tick of disagreement is a view still converging");
  tracker.checkAnnounced();
  assert.equal(roleWarnings().map((w) => w.fields), [
    { member: "m3", announced: "spare", expected: "voter" },
  ]);
  tracker.checkAnnounced();
  assert.is(roleWarnings().length, 1, "reported once per member and role pair");
  gossip.set("m2", "alive", "spare");
  tracker.checkAnnounced();
  gossip.set("m2", "alive", "voter");
  tracker.checkAnnounced();
  assert.is(roleWarnings().length, 1, "a single tick of disagreement is never warned about");
});

test.run();
