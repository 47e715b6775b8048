/**
 * The cluster view's reading of roster records across incarnations: a member's name taken by a
 * new certificate (admitted after a removal this member missed) is that member's removal, then
 * the new member's join; this member's own name taken so is its own removal.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { systemClock } from "../../lib/cluster/clock.ts";
import { type ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import { ClusterView, type ClusterViewOptions, type ViewChange } from "../../lib/daemon/view.ts";

const test = suite("cluster view");

/** A gossip layer of roster records only, whose changes are told to the view. */
class Records {
  readonly map = new Map<string, ReplicatedRecord>();
  readonly listeners: ((e: unknown) => void)[] = [];

  write(name: string, fingerprint: string | null, joinedAt = 1, version = joinedAt): void {
    const value = fingerprint === null ? null : {
      address: `${name}:1`,
      certificate: fingerprint,
      fingerprint,
      joinedAt,
    };
    const previous = this.map.get(name);
    const record = { kind: MEMBER_RECORD, key: name, value, version, origin: name };
    this.map.set(name, record);
    for (const fn of this.listeners) fn({ record, previous });
  }
  /** How many times the roster was read whole. */
  loads = 0;
  records(kind: string): ReplicatedRecord[] {
    if (kind === MEMBER_RECORD) this.loads++;
    return kind === MEMBER_RECORD ? [...this.map.values()] : [];
  }
  record(kind: string, key: string): ReplicatedRecord | undefined {
    return kind === MEMBER_RECORD ? this.map.get(key) : undefined;
  }
  member(): undefined {
    return undefined;
  }
  on(event: string, fn: (e: unknown) => void): () => void {
    if (event === "record-change") this.listeners.push(fn);
    return () => {};
  }
}

function setup() {
  const gossip = new Records();
  gossip.write("m1", "fp1");
  gossip.write("m2", "fp2");
  const changes: ViewChange[] = [];
  const deliveries: number[] = [];
  const view = new ClusterView({
    name: "m1",
    gossip: gossip as unknown as ClusterViewOptions["gossip"],
    stored: [],
    local: { schemaInternal: 1, schemaExternal: 0, extensions: ["internal:x"] },
    fingerprint: "fp1",
    onChanges: (list) => {
      deliveries.push(list.length);
      changes.push(...list);
    },
    onTrustShrunk: () => {},
  });
  view.start();
  return { gossip, view, changes, deliveries };
}

test("a member's name taken by a new certificate is its removal, then the new member's join", () => {
  const { gossip, view, changes } = setup();
  gossip.write("m2", "fp2b", 20, 21);
  const [c] = changes;
  assert.ok(c.kind === "record");
  if (c.kind !== "record") return;
  assert.equal(c.removed, { name: "m2", hadJoined: true });
  assert.is(c.joined, "m2");
  assert.not.ok(c.selfRemoved);
  assert.ok(view.isTrusted("fp2b"));
  assert.not.ok(view.isTrusted("fp2"));
  // The same certificate rewriting its record is neither.
  gossip.write("m2", "fp2b", 20, 30);
  const again = changes[1];
  assert.ok(again.kind === "record" && !again.removed && !again.joined);
});

test("this member's own name taken by another certificate is its own removal", () => {
  const { gossip, view, changes } = setup();
  assert.not.ok(view.selfRemoved());
  gossip.write("m1", "other", 20, 21);
  assert.ok(changes[0].kind === "record" && changes[0].selfRemoved);
  assert.ok(view.selfRemoved(), "as read from the records at a start");
  gossip.write("m1", null, 20, 40);
  assert.ok(view.selfRemoved(), "its tombstone");
});

test("a batch of N roster records builds the roster once and hands its changes over together", () => {
  const { gossip, view, changes, deliveries } = setup();
  const before = gossip.loads;
  view.batch(() => {
    for (let i = 3; i < 53; i++) gossip.write(`m${i}`, `fp${i}`, 10 + i);
  });
  assert.is(gossip.loads - before, 1, "one roster build for 50 records, not one per record");
  assert.equal(deliveries, [50]);
  assert.is(changes.filter((c) => c.kind === "record" && c.joined).length, 50);
  assert.is(view.roster().size, 52);
  assert.ok(view.isTrusted("fp52"));
  assert.is(gossip.loads - before, 1, "read after the batch: nothing rebuilt");
  // Outside a batch, each change is handed over as it happens, the roster current at once.
  gossip.write("m2", null, 100, 100);
  assert.equal(deliveries, [50, 1]);
  assert.not.ok(view.isTrusted("fp2"));
});

test("the roster read within a batch is current", () => {
  const { gossip, view } = setup();
  view.batch(() => {
    gossip.write("m3", "fp3");
    assert.ok(view.roster().has("m3"));
    assert.ok(view.isTrusted("fp3"));
  });
});

test("a member not heard from since this member started counts as down only since that start", () => {
  const gossip = new Records();
  gossip.write("m1", "fp1");
  gossip.write("m2", "fp2");
  const row = (name: string, heartbeat: number) => ({
    id: 1,
    name,
    address: `${name}:1`,
    certificate: "",
    schemaInternal: 1,
    schemaExternal: 0,
    heartbeat,
    role: "voter",
    extensions: ["internal:x"],
  });
  const view = new ClusterView({
    name: "m1",
    gossip: gossip as unknown as ClusterViewOptions["gossip"],
    stored: [row("m1", 1_000), row("m2", 1_000)] as unknown as ClusterViewOptions["stored"],
    local: { schemaInternal: 1, schemaExternal: 0, extensions: ["internal:x"] },
    fingerprint: "fp1",
    // Started at 5 s on its monotonic clock, 60 s on its wall clock.
    clock: { ...systemClock, now: () => 5_000, wallOffset: () => 55_000 },
    onChanges: () => {},
    onTrustShrunk: () => {},
  });
  // m2's last stored heartbeat is from before this member stopped: it may have run since. On
  // the monotonic clock, which the dead grace compares with.
  assert.equal(view.liveness("m2"), { up: false, downSince: 5_000 });
});

test.run();
