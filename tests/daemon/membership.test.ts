/**
 * ClusterMembership's check of announced roles, driven through its public seams: a scripted
 * gossip view (roster records, members' states and metadata, the events it listens to), an
 * in-memory store, a logger that records warnings, and the persistence tick captured from
 * `setInterval` so that each tick is one explicit call rather than a second of waiting.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { MemberInfo, ReplicatedRecord } from "../../lib/cluster/membership.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import type { Role } from "../../lib/cluster/roles.ts";
import { ClusterMembership, type ClusterMembershipOptions } from "../../lib/daemon/membership.ts";
import { type Logger, silentLogger } from "../../lib/log.ts";
import { openStore, type Store } from "../../lib/store/open.ts";

const VERSION = { schemaInternal: 1, schemaExternal: 0, extensions: ["internal:x"] };

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
  /** Marks `name` alive, announcing `role`, and tells the listeners. */
  alive(name: string, role: string): void {
    const member = {
      name,
      state: "alive",
      incarnation: 1,
      meta: { role } as MemberInfo["meta"],
      lastHeartbeat: 0,
      stateChangedAt: 0,
    } satisfies MemberInfo;
    const event = this.members.has(name) ? "member-update" : "member-join";
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

interface Ctx {
  store: Store;
  membership?: ClusterMembership;
}

const test = suite<Ctx>("ClusterMembership announced roles");

test.before.each(async (ctx) => {
  ctx.store = await openStore({ url: ":memory:" });
});

test.after.each(async (ctx) => {
  await ctx.membership?.stop();
  ctx.store.close();
});

/**
 * Starts a membership of m1 (this member), m2 and m3 on `gossip`, with m2 and m3 alive and
 * announcing the rule's roles. Returns it, its warnings and `tick`, one persistence tick.
 */
async function started(ctx: Ctx) {
  const gossip = new FakeGossip();
  gossip.admit("m1", 1);
  gossip.admit("m2", 2);
  gossip.admit("m3", 3);
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  const membership = new ClusterMembership({
    name: "m1",
    gossip: gossip as unknown as ClusterMembershipOptions["gossip"],
    store: ctx.store,
    local: VERSION,
    appVersion: "1.0.0",
    logger: recordingLogger(warnings),
  });
  ctx.membership = membership;
  let tick: (() => void) | undefined;
  const realSetInterval = globalThis.setInterval;
  globalThis.setInterval = ((fn: () => void) => {
    tick = fn;
    return realSetInterval(() => {}, 1 << 30);
  }) as typeof setInterval;
  try {
    await membership.start();
  } finally {
    globalThis.setInterval = realSetInterval;
  }
  assert.ok(tick, "start() sets up the persistence tick");
  const rule = () => membership.roles();
  // Alive only now: a member never seen alive is pending and has no role to disagree with.
  gossip.alive("m2", "PENDING");
  gossip.alive("m3", "PENDING");
  gossip.alive("m2", rule().get("m2")!);
  gossip.alive("m3", rule().get("m3")!);
  const roleWarnings = () =>
    warnings.filter((w) => w.msg === "A member announces a role the rule does not give it");
  return { gossip, membership, tick: tick!, rule, roleWarnings };
}

/** A role other than the rule's `role`. */
const other = (role: Role): Role => (role === "voter" ? "spare" : "voter");

test("no warning while every member announces the role the rule gives it", async (ctx) => {
  const { tick, roleWarnings, rule } = await started(ctx);
  assert.equal([...rule().values()], ["voter", "voter", "voter"]);
  for (let i = 0; i < 4; i++) tick();
  assert.equal(roleWarnings(), []);
});

test("a disagreement is warned about on its second tick, not its first, and only once", async (ctx) => {
  const { gossip, tick, rule, roleWarnings } = await started(ctx);
  const expected = rule().get("m3")!;
  gossip.alive("m3", other(expected));
  tick();
  assert.equal(roleWarnings(), [], "one tick of disagreement is a view still converging");
  tick();
  assert.equal(roleWarnings().map((w) => w.fields), [
    { member: "m3", announced: other(expected), expected },
  ]);
  tick();
  tick();
  assert.is(roleWarnings().length, 1, "reported once per member and role pair");
});

test("a disagreement that lasts a single tick is never warned about", async (ctx) => {
  const { gossip, tick, rule, roleWarnings } = await started(ctx);
  const expected = rule().get("m2")!;
  gossip.alive("m2", other(expected));
  tick();
  gossip.alive("m2", expected);
  tick();
  tick();
  // Two ticks of disagreement with a tick of agreement between them are not two in a row.
  gossip.alive("m2", other(expected));
  tick();
  gossip.alive("m2", expected);
  tick();
  assert.equal(roleWarnings(), []);
});

test("a member whose join has not completed stays PENDING, though announced alive", async (ctx) => {
  const { gossip, membership } = await started(ctx);
  gossip.admit("m4", 4, true);
  gossip.alive("m4", "PENDING");
  assert.is(membership.roles().get("m4"), "PENDING");
  assert.is(membership.roles().size, 4);
  // Its preJoin passed: it clears the mark, and ranks by its join time.
  gossip.admit("m4", 4);
  assert.is(membership.roles().get("m4"), "stand-by");
});

test.run();
