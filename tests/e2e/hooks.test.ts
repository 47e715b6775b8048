/**
 * End to end, in process: members made with `createMember` whose hooks throw. The step a hook
 * guards is aborted and undone, on the member and in the cluster: no half-made member is left.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createMember, type Daemon, silentLogger } from "../../mod.ts";
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

test.after(async (ctx) => {
  await Promise.all(ctx.daemons.map((d) => d.stop()));
  for (const dir of ctx.dirs) removeDir(dir);
});

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
  const a = await member(ctx, {});
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

test.run();
