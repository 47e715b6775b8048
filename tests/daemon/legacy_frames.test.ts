/**
 * The legacy frame switch (`lib/daemon/legacy_frames.ts`) over a real cluster view: it ends the
 * legacy frame limit once every roster member is known to run the link proof's extension (from
 * gossip or from the store), not before, and tells the gossip layer once.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { INTERNAL_EXTENSIONS, LINK_PROOF_EXTENSION } from "../../lib/cluster/extensions.ts";
import type { ReplicatedRecord } from "../../lib/cluster/membership.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import { LegacyFrameSwitch } from "../../lib/daemon/legacy_frames.ts";
import { ClusterView, type ClusterViewOptions, type ViewChange } from "../../lib/daemon/view.ts";
import type { Member as StoredMember } from "../../lib/store/members.ts";
import { silentLogger } from "../../lib/log.ts";

const test = suite("legacy frame switch");

const NEW = [...INTERNAL_EXTENSIONS, "feature_a"];
/** The list of a member of the release before the link proof. */
const OLD = NEW.filter((e) => e !== LINK_PROOF_EXTENSION);

/** A gossip layer of roster records and member metadata, whose changes reach the view. */
class FakeGossip {
  readonly roster = new Map<string, ReplicatedRecord>();
  readonly metas = new Map<string, { extensions: readonly string[] }>();
  readonly listeners = new Map<string, ((e: unknown) => void)[]>();
  /** Every call of `legacyFrames`, in order. */
  readonly calls: boolean[] = [];

  admit(name: string): void {
    const value = { address: `${name}:1`, certificate: name, fingerprint: name, joinedAt: 1 };
    const record = { kind: MEMBER_RECORD, key: name, value, version: 1, origin: name };
    const previous = this.roster.get(name);
    this.roster.set(name, record);
    this.#emit("record-change", { record, previous });
  }
  /** `name` is heard with these extensions (a join or a restart on another release). */
  hear(name: string, extensions: readonly string[]): void {
    const known = this.metas.has(name);
    this.metas.set(name, { extensions });
    this.#emit(known ? "member-update" : "member-join", {
      member: { name, state: "alive" },
    });
  }
  records(kind: string): ReplicatedRecord[] {
    return kind === MEMBER_RECORD ? [...this.roster.values()] : [];
  }
  record(kind: string, key: string): ReplicatedRecord | undefined {
    return kind === MEMBER_RECORD ? this.roster.get(key) : undefined;
  }
  member(name: string) {
    const meta = this.metas.get(name);
    return meta && {
      name,
      state: "alive",
      stateChangedAt: 0,
      meta: { schemaInternal: 3, schemaExternal: 0, extensions: meta.extensions },
    };
  }
  extensionStatus(): undefined {
    return undefined;
  }
  legacyFrames(accepted: boolean): void {
    this.calls.push(accepted);
  }
  on(event: string, fn: (e: unknown) => void): () => void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
    return () => {};
  }
  #emit(event: string, e: unknown): void {
    for (const fn of this.listeners.get(event) ?? []) fn(e);
  }
}

function stored(name: string, extensions: string[]): StoredMember {
  return {
    id: 1,
    name,
    address: `${name}:1`,
    certificate: name,
    schemaInternal: 3,
    schemaExternal: 0,
    heartbeat: 1,
    role: "voter",
    extensions,
  } as StoredMember;
}

/** Member m1 of this release, its roster `names`, its store's rows `rows`. */
function setup(names: string[], rows: StoredMember[] = []) {
  const gossip = new FakeGossip();
  for (const n of names) gossip.admit(n);
  let sw: LegacyFrameSwitch | undefined;
  const view = new ClusterView({
    name: "m1",
    gossip: gossip as unknown as ClusterViewOptions["gossip"],
    stored: rows,
    local: { schemaInternal: 3, schemaExternal: 0, extensions: NEW },
    fingerprint: "m1",
    onChanges: (changes: readonly ViewChange[]) => sw?.update(changes),
    onTrustShrunk: () => {},
  });
  sw = new LegacyFrameSwitch({
    view,
    gossip: gossip as unknown as ClusterViewOptions["gossip"],
    logger: silentLogger,
  });
  view.start();
  sw.update();
  return { gossip, view, sw: sw! };
}

test("a member alone in its cluster (this release) ends the legacy limit at once", () => {
  const { gossip, sw } = setup(["m1"]);
  assert.ok(sw.ended);
  assert.equal(gossip.calls, [false]);
});

test("one member not yet heard of (no version known): the legacy limit stays", () => {
  const { gossip, sw } = setup(["m1", "m2", "m3"]);
  gossip.hear("m2", NEW);
  assert.not.ok(sw.ended);
  assert.equal(gossip.calls, []);
});

test("a rolling upgrade: the limit stays while one member runs the older release, and ends when it upgrades", () => {
  const { gossip, sw } = setup(["m1", "m2", "m3"]);
  gossip.hear("m2", NEW);
  gossip.hear("m3", OLD);
  assert.not.ok(sw.ended, "m3 has not upgraded");
  assert.equal(gossip.calls, []);
  gossip.hear("m3", NEW);
  assert.ok(sw.ended, "the last member upgraded");
  assert.equal(gossip.calls, [false], "told once");
  gossip.hear("m2", NEW);
  assert.equal(gossip.calls, [false], "not told again without a flip");
});

test("a restart decides from the store, before any gossip: every member remembered with the extension", () => {
  const { gossip, sw } = setup(["m1", "m2", "m3"], [stored("m2", NEW), stored("m3", NEW)]);
  assert.ok(sw.ended);
  assert.equal(gossip.calls, [false]);
});

test("a restart with one member remembered at the older release keeps the limit until it is heard upgraded", () => {
  const { gossip, sw } = setup(["m1", "m2", "m3"], [stored("m2", NEW), stored("m3", OLD)]);
  assert.not.ok(sw.ended);
  gossip.hear("m3", NEW);
  assert.ok(sw.ended);
  assert.equal(gossip.calls, [false]);
});

test("once ended it stays: a joiner whose versions are not known yet does not turn it back", () => {
  const { gossip, view, sw } = setup(["m1", "m2"], [stored("m2", NEW)]);
  assert.ok(sw.ended);
  gossip.admit("m4");
  assert.is(view.versionOf("m4"), undefined);
  assert.ok(sw.ended);
  gossip.hear("m4", NEW);
  assert.equal(gossip.calls, [false]);
});

test("changes that cannot change versions (a suspicion) do not re-decide", () => {
  const { view, sw } = setup(["m1", "m2"], [stored("m2", OLD)]);
  let reads = 0;
  const roster = view.roster.bind(view);
  view.roster = () => (reads++, roster());
  sw.update([{ kind: "member", event: "member-suspect", name: "m2" }]);
  assert.is(reads, 0);
  sw.update([{ kind: "member", event: "member-update", name: "m2" }]);
  assert.is(reads, 1);
});

test.run();
