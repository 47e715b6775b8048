/**
 * End to end, in process: members made with `createMember`. Each hook runs at its documented
 * moment, on the documented members, with the documented arguments, once per event (see
 * lib/daemon/hooks.ts). A hook that throws aborts the step it guards, and the step is undone, on
 * the member and in the cluster: no half-made member is left.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { createMember, type Daemon, silentLogger } from "../../mod.ts";
import { inProcessIssuer } from "../../lib/net/cert_issuer.ts";
import type { MemberService } from "../../lib/daemon/service.ts";
import { eventually } from "../helpers/cluster.ts";
import { freePort, removeDir, tempDir } from "../helpers/process.ts";

interface Ctx {
  daemons: Daemon[];
  dirs: string[];
}

const test = suite<Ctx>("hooks end to end");

test.before((ctx) => {
  ctx.daemons = [];
  ctx.dirs = [];
});

// Each test makes members of its own: stopped once it ends, so that the later tests do not run
// beside every earlier test's members still gossiping in this process.
async function cleanUp(ctx: Ctx): Promise<void> {
  await Promise.all(ctx.daemons.splice(0).map((d) => d.stop()));
  for (const dir of ctx.dirs.splice(0)) removeDir(dir);
}
test.after.each(cleanUp);
test.after(cleanUp);

const STATE_FILES = ["daemon.json", "cluster.crt", "cluster.key", "server.crt", "server.key"];

function leftovers(dir: string): string[] {
  return STATE_FILES.filter((f) => existsSync(join(dir, f)));
}

async function member(ctx: Ctx, hooks: Parameters<typeof createMember>[0]["hooks"]) {
  const dir = tempDir("cohort-hooks-");
  ctx.dirs.push(dir);
  const daemon = await createMember({
    stateDir: dir,
    extensions: ["feature_a"],
    gossipPreset: "local",
    logger: process.env.DEBUG_E2E ? undefined : silentLogger,
    hooks,
    // Key pairs made in this process: the library loads once for the file, where a certificate
    // process per member (the default) boots a runtime and loads it again for each, under Node
    // through the test's TypeScript loader (0.7 s of CPU each). What the hooks do does not depend
    // on where the key pairs are made; the certificate process has tests of its own
    // (tests/net/cert_issuer.test.ts) and runs in every daemon of the other e2e files.
    certificateIssuer: inProcessIssuer,
  });
  ctx.daemons.push(daemon);
  return { daemon, dir, address: `127.0.0.1:${await freePort()}` };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.unreachable("expected the step to fail");
  throw new Error("unreachable");
}

test("a throwing postBootstrap hook undoes the bootstrap: the member is uninitialised and clean", async (ctx) => {
  let fail = true;
  const m = await member(ctx, {
    postBootstrap: () => {
      if (fail) throw new Error("app refused to bootstrap");
    },
  });
  const err = await rejection(
    m.daemon.initialize({ bootstrap: true, name: "p1", address: m.address }),
  );
  assert.match(err.message, "Hook postBootstrap failed: app refused to bootstrap");
  assert.is(m.daemon.status(), "uninitialized");
  assert.equal(leftovers(m.dir), []);
  // Nothing is left that would stop the same bootstrap from succeeding once the app agrees.
  fail = false;
  const info = await m.daemon.initialize({ bootstrap: true, name: "p1", address: m.address });
  assert.is(info.name, "p1");
  assert.is(m.daemon.status(), "online");
});

test("a throwing preJoin hook undoes the join on the joiner and in the cluster", async (ctx) => {
  // The accepting member's observing hooks: a join that never completed is neither a new member
  // nor a removed one; the completed one afterwards is new, once.
  const seen: string[] = [];
  const a = await member(ctx, {
    onNewMember: ({ name }) => void seen.push(`onNewMember ${name}`),
    postRemove: ({ name }) => void seen.push(`postRemove ${name}`),
  });
  await a.daemon.initialize({ bootstrap: true, name: "a", address: a.address });
  let fail = true;
  const b = await member(ctx, {
    preJoin: () => {
      if (fail) throw new Error("app refused to join");
    },
  });
  const token = await a.daemon.createToken("b", 0);
  const err = await rejection(
    b.daemon.initialize({ bootstrap: false, name: "b", address: b.address, join_token: token }),
  );
  assert.match(err.message, "Hook preJoin failed: app refused to join");
  assert.is(b.daemon.status(), "uninitialized");
  assert.equal(leftovers(b.dir), []);
  // The accepting member admitted b before b's hook ran: b must not stay in its roster.
  await eventually("b gone from a's view", async () => {
    const names = (await a.daemon.clusterMembers()).map((e) => e.name);
    if (names.join(",") !== "a") throw new Error(names.join(","));
    return true;
  }, 5000);
  // And nothing stops the same joiner from joining once the app agrees.
  fail = false;
  const again = await a.daemon.createToken("b", 0);
  await b.daemon.initialize({ bootstrap: false, name: "b", address: b.address, join_token: again });
  assert.is(b.daemon.status(), "online");
  await eventually("a and b online on a", async () => {
    const list = await a.daemon.clusterMembers();
    return list.length === 2 && list.every((e) => e.status === "ONLINE");
  }, 10_000);
  await eventually("onNewMember on a", () => Promise.resolve(seen.length > 0), 5000);
  await new Promise((r) => setTimeout(r, 300)); // no second call in flight
  assert.equal(seen, ["onNewMember b"]);
});

test("onStart, postBootstrap and onHeartbeat (role change) run at their moments", async (ctx) => {
  const seen: string[] = [];
  const { daemon, address } = await member(ctx, {
    onStart: () => void seen.push("onStart"),
    preInit: ({ bootstrap }) => void seen.push(`preInit:${bootstrap}`),
    postBootstrap: () => void seen.push("postBootstrap"),
    onHeartbeat: ({ role, previous }) => void seen.push(`onHeartbeat:${previous}->${role}`),
  });
  assert.equal(seen, ["onStart"]);
  await daemon.initialize({ bootstrap: true, name: "h1", address });
  await eventually(
    "the role change reached onHeartbeat",
    () => Promise.resolve(seen.includes("onHeartbeat:PENDING->voter") || undefined),
  );
  assert.equal(seen.slice(0, 2), ["onStart", "preInit:true"]);
  assert.ok(seen.includes("postBootstrap"));
});

/** One hook call as a test sees it: the member it ran on, the hook, its arguments. */
interface Call {
  on: string;
  hook: string;
  args: Record<string, unknown>;
}

/** A bootstrapped member and members joined to it one by one, each recording `hooks` calls. */
async function cluster(
  ctx: Ctx,
  names: string[],
  hooks: (name: string, calls: Call[]) => Parameters<typeof createMember>[0]["hooks"],
  calls: Call[] = [],
) {
  const members = new Map<string, Awaited<ReturnType<typeof member>>>();
  for (const name of names) {
    const m = await member(ctx, hooks(name, calls));
    members.set(name, m);
    if (members.size === 1) {
      await m.daemon.initialize({ bootstrap: true, name, address: m.address });
    } else {
      await joinVia(members.get(names[0])!.daemon, m, name);
    }
  }
  await settled([...members.values()].map((m) => m.daemon), names);
  return { members, calls };
}

async function joinVia(via: Daemon, m: { daemon: Daemon; address: string }, name: string) {
  const token = await via.createToken(name, 0);
  await m.daemon.initialize({
    bootstrap: false,
    name,
    address: m.address,
    join_token: token,
    config: { joined: name },
  });
}

/** Waits until every daemon lists exactly `names`, all ONLINE, every join complete. */
async function settled(daemons: Daemon[], names: string[]): Promise<void> {
  const want = [...names].sort().join(",");
  for (const d of daemons) {
    await eventually(`the view ${want}, every join complete`, async () => {
      const list = await d.clusterMembers();
      const got = list.map((e) => `${e.name}:${e.status}:${e.role}`).join(",");
      // A join answers once committed; the others hear it completed (role no longer PENDING)
      // by gossip after, and a member whose join they never saw complete gets no postRemove.
      if (
        list.map((e) => e.name).join(",") !== want ||
        !list.every((e) => e.status === "ONLINE" && e.role !== "PENDING")
      ) throw new Error(got);
      return true;
    }, 10_000);
  }
}

/** Gossip may still be delivering: a duplicate call would show up within this time. */
const QUIET_MS = 1000;
const quiet = () => new Promise((r) => setTimeout(r, QUIET_MS));
/**
 * How long the expected hook calls may take to arrive. A member runs `onNewMember` and
 * `postRemove` when a roster record reaches it by gossip, which a loaded member can take seconds
 * for (the local preset's periodic push-pull, 15 s, is the backstop): the view settling says
 * nothing about it, since a joining member is listed ONLINE before its join is marked complete.
 */
const CALLS_MS = 30_000;

const only = (calls: Call[], hook: string) =>
  calls.filter((c) => c.hook === hook).map((c) => ({ on: c.on, ...c.args }));

/**
 * Waits until `calls` holds at least `want[hook]` calls of each hook named, then
 * {@link QUIET_MS} more so that a duplicate call shows up. Wait on this, not on a pause: in a
 * full run at load 15-70, b's onNewMember for c had not come a second after the view settled.
 */
async function called(calls: Call[], want: Record<string, number>): Promise<void> {
  const done = () =>
    Object.entries(want).every(([hook, n]) => only(calls, hook).length >= n) || undefined;
  await eventually(`hook calls ${JSON.stringify(want)}`, () => Promise.resolve(done()), CALLS_MS)
    .catch((err) => {
      throw new Error(`${(err as Error).message}; calls: ${JSON.stringify(calls)}`);
    });
  await quiet();
}

/** Whether `name` is in the member's own roster, read from inside a hook. */
async function lists(daemon: MemberService, name: string): Promise<boolean> {
  return (await daemon.clusterMembers()).some((e) => e.name === name);
}

test("postJoin runs once on the joiner, once it serves, with the init config; never on a bootstrap", async (ctx) => {
  const { calls } = await cluster(ctx, ["a", "b"], (on, calls) => ({
    postJoin: ({ daemon, config }) =>
      void calls.push({ on, hook: "postJoin", args: { config, status: daemon.status() } }),
  }));
  await called(calls, { postJoin: 1 });
  assert.equal(only(calls, "postJoin"), [
    { on: "b", config: { joined: "b" }, status: "online" },
  ]);
});

test("onNewMember runs once on every existing member, naming the new one; never on the joiner", async (ctx) => {
  const { members, calls } = await cluster(ctx, ["a", "b"], (on, calls) => ({
    onNewMember: ({ name }) => void calls.push({ on, hook: "onNewMember", args: { name } }),
  }));
  await called(calls, { onNewMember: 1 });
  assert.equal(only(calls, "onNewMember"), [{ on: "a", name: "b" }]);
  // A third member, with a token b issued. The token lists every live member (a first), so a
  // admits it and b learns of the completed join by gossip alone: b's call is the one that comes
  // last, and under load it came more than a second after the view settled.
  const c = await member(ctx, {
    onNewMember: ({ name }) => void calls.push({ on: "c", hook: "onNewMember", args: { name } }),
  });
  await joinVia(members.get("b")!.daemon, c, "c");
  await settled([members.get("a")!.daemon, members.get("b")!.daemon, c.daemon], ["a", "b", "c"]);
  await called(calls, { onNewMember: 3 });
  const sorted = only(calls, "onNewMember").sort((x, y) => x.on < y.on ? -1 : 1);
  assert.equal(sorted, [{ on: "a", name: "b" }, { on: "a", name: "c" }, { on: "b", name: "c" }]);
});

/** Hooks that record the removal hooks, with what the member sees when each runs. */
function removalHooks(on: string, calls: Call[]): Parameters<typeof createMember>[0]["hooks"] {
  return {
    preRemove: async ({ daemon, force }) => {
      calls.push({
        on,
        hook: "preRemove",
        args: { force, status: daemon.status(), listsItself: await lists(daemon, on) },
      });
    },
    postRemove: async ({ daemon, name, force }) => {
      calls.push({
        on,
        hook: "postRemove",
        args: { name, force, listsRemoved: await lists(daemon, name) },
      });
    },
  };
}

for (const [by, where] of [["a", "another member"], ["b", "the departing member itself"]]) {
  test(`cluster remove run on ${where}: preRemove once on the departing member while it is still a member, postRemove once on each remaining member`, async (ctx) => {
    const { members, calls } = await cluster(ctx, ["a", "b", "c"], removalHooks);
    await members.get(by)!.daemon.removeMember("b", false);
    const b = members.get("b")!.daemon;
    await eventually("b reset", () => Promise.resolve(b.status() === "uninitialized"), 10_000);
    await settled([members.get("a")!.daemon, members.get("c")!.daemon], ["a", "c"]);
    await called(calls, { preRemove: 1, postRemove: 2 });
    assert.equal(only(calls, "preRemove"), [
      { on: "b", force: false, status: "online", listsItself: true },
    ]);
    const post = only(calls, "postRemove").sort((x, y) => x.on < y.on ? -1 : 1);
    assert.equal(post, [
      { on: "a", name: "b", force: false, listsRemoved: false },
      { on: "c", name: "b", force: false, listsRemoved: false },
    ]);
  });
}

test("a throwing preRemove aborts a removal without force, from another member or its own, and the member stays", async (ctx) => {
  const { members } = await cluster(ctx, ["a", "b"], (on) => ({
    preRemove: () => {
      if (on === "b") throw new Error("app is busy");
    },
  }));
  const a = members.get("a")!.daemon;
  const b = members.get("b")!.daemon;
  const remote = await rejection(a.removeMember("b", false));
  assert.match(remote.message, "app is busy");
  const own = await rejection(b.removeMember("b", false));
  assert.match(own.message, "Hook preRemove failed: app is busy");
  await quiet();
  assert.is(b.status(), "online");
  await settled([a, b], ["a", "b"]);
});

test("with force a throwing preRemove does not stop the removal, and the hooks are told it was forced", async (ctx) => {
  const calls: Call[] = [];
  const { members } = await cluster(ctx, ["a", "b"], (on) => ({
    ...removalHooks(on, calls),
    preRemove: ({ force }) => {
      calls.push({ on, hook: "preRemove", args: { force } });
      throw new Error("app is busy");
    },
  }), calls);
  const a = members.get("a")!.daemon;
  const b = members.get("b")!.daemon;
  await a.removeMember("b", true);
  await eventually("b reset", () => Promise.resolve(b.status() === "uninitialized"), 10_000);
  await settled([a], ["a"]);
  await called(calls, { preRemove: 1, postRemove: 1 });
  assert.equal(only(calls, "preRemove"), [{ on: "b", force: true }]);
  assert.equal(only(calls, "postRemove"), [
    { on: "a", name: "b", force: true, listsRemoved: false },
  ]);
});

test("a forced removal of a stopped member runs postRemove once on the remaining member, forced", async (ctx) => {
  const { members, calls } = await cluster(ctx, ["a", "b"], removalHooks);
  const a = members.get("a")!.daemon;
  await members.get("b")!.daemon.stop();
  await a.removeMember("b", true);
  await settled([a], ["a"]);
  await called(calls, { postRemove: 1 });
  assert.equal(only(calls, "preRemove"), []);
  assert.equal(only(calls, "postRemove"), [
    { on: "a", name: "b", force: true, listsRemoved: false },
  ]);
});

test("a forced removal tells every remaining member's postRemove it was forced, not only the member that ran it", async (ctx) => {
  const { members, calls } = await cluster(ctx, ["a", "b", "c"], removalHooks);
  const a = members.get("a")!.daemon;
  const b = members.get("b")!.daemon;
  await members.get("c")!.daemon.stop();
  await a.removeMember("c", true);
  await settled([a, b], ["a", "b"]);
  await called(calls, { postRemove: 2 });
  const post = only(calls, "postRemove").sort((x, y) => x.on < y.on ? -1 : 1);
  assert.equal(post, [
    { on: "a", name: "c", force: true, listsRemoved: false },
    { on: "b", name: "c", force: true, listsRemoved: false },
  ]);
});

test.run();
