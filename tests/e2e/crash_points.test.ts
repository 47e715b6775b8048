/**
 * End to end, with real member daemons on loopback: `kill -9` at the moments of a membership
 * change that used to leave half-written members, each timed on the member's own log line. After
 * a restart the member is either fully what it was or fully what it became, and the cluster
 * agrees with it:
 * - the departing member of a `cluster remove`, killed as it starts to reset: the remove
 *   succeeded, so it restarts uninitialised and clean, and no member lists it;
 * - a member killed as its HTTPS listener comes up during `init --bootstrap`: it restarts either
 *   bootstrapped (listing itself, issuing working tokens) or clean and able to bootstrap;
 * - an admitted joiner killed before it finishes: it restarts clean, the cluster drops it, and a
 *   new token for the same name lets it join.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  api,
  bootstrap,
  decode,
  eventually,
  formCluster,
  isClean,
  issueToken,
  join_,
  type Member,
  members,
  newMember,
  run,
  startMember,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { killOnLine } from "../helpers/app.ts";
import { isReady } from "../helpers/upgrade.ts";
import { exitOf } from "../helpers/process.ts";

interface Ctx {
  all: Member[];
}

const test = suite<Ctx>("kill -9 at membership steps");

test.before((ctx) => {
  ctx.all = [];
});

test.after(async (ctx) => {
  await stopMembers(ctx.all);
});

/** The names `on` lists, sorted and comma-joined. */
async function names(on: Member): Promise<string> {
  return (await members(on)).map((e) => e.name).join(",");
}

test("the departing member killed as it starts to reset restarts uninitialised and clean; no member lists it", async (ctx) => {
  const cluster = await formCluster(["c1", "c2", "c3"]);
  ctx.all.push(...cluster);
  const [c1, c2, c3] = cluster;
  // Its role drops once its tombstone is written (by the remover, or by its own reset), after
  // it answered: its phase becomes `removed` earlier, as soon as it agreed to leave and recorded
  // it, before it hands its state over and answers.
  const killed = killOnLine(c3.daemon!, (l) => l.to === "PENDING");
  const removed = await run(c1, ["cluster", "remove", "c3"]);
  assert.is(removed.code, 0, removed.stderr);
  await killed;
  await exitOf(c3.daemon!, "c3");
  await startMember(c3);
  await eventually("c3 uninitialised and clean", async () => {
    const info = (await api(c3, "GET", "/core/1.0")).body.metadata;
    return isClean(c3) && info.ready === false && info.address === "";
  });
  for (const m of [c1, c2]) {
    await eventually(`${m.name} lists c1,c2`, async () => (await names(m)) === "c1,c2");
  }
  const list = await run(c3, ["cluster", "list"]);
  assert.is.not(list.code, 0, "an uninitialised member has no cluster to list");
});

test("a member killed as its HTTPS listener comes up during init --bootstrap restarts either bootstrapped or clean", async (ctx) => {
  const outcomes: string[] = [];
  for (let i = 0; i < 4; i++) {
    const b = await startMember(await newMember(`b${i}`));
    ctx.all.push(b);
    const killed = killOnLine(b.daemon!, (l) => l.msg === "Listening" && l.transport === "https");
    const init = run(b, ["init", b.name, b.address, "--bootstrap"]);
    await killed;
    await init;
    await exitOf(b.daemon!, b.name);
    await startMember(b);
    const ready = await eventually(`${b.name} started`, async () => {
      const status = await api(b, "GET", "/core/1.0");
      return status.status === 200 ? { ready: status.body.metadata.ready } : undefined;
    });
    if (ready.ready) {
      outcomes.push("bootstrapped");
      assert.is(await names(b), b.name, `${b.name} lists itself`);
      const token = decode(await issueToken(b, "joiner"));
      assert.equal(token.join_addresses, [b.address], `${b.name}'s token lists its address`);
    } else {
      outcomes.push("clean");
      assert.ok(isClean(b), `${b.name} not ready but not clean either`);
      await bootstrap(b);
      assert.ok(await isReady(b));
    }
    await stop(b);
  }
  assert.is(outcomes.length, 4, outcomes.join(","));
});

test("an admitted joiner killed before it finishes restarts clean; the cluster drops it and a new token lets it join", async (ctx) => {
  const [j1] = await formCluster(["j1"]);
  ctx.all.push(j1);
  const j2 = await startMember(await newMember("j2"));
  ctx.all.push(j2);
  const killed = killOnLine(j2.daemon!, (l) => l.msg === "Listening" && l.transport === "https");
  const join = join_(j2, await issueToken(j1, "j2"));
  await killed;
  assert.is.not((await join).code, 0, "the join was cut short");
  await exitOf(j2.daemon!, "j2");
  await startMember(j2);
  await eventually("j2 clean and uninitialised", async () => {
    const info = (await api(j2, "GET", "/core/1.0")).body.metadata;
    return isClean(j2) && info.ready === false;
  });
  await eventually("j1 lists only itself", async () => (await names(j1)) === "j1", 20_000);
  const again = await join_(j2, await issueToken(j1, "j2"));
  assert.is(again.code, 0, again.stderr);
  await eventually("j1 and j2 listed ONLINE by both", async () => {
    for (const m of [j1, j2]) {
      const list = await members(m);
      if (list.map((e) => `${e.name}:${e.status}`).join(",") !== "j1:ONLINE,j2:ONLINE") {
        return false;
      }
    }
    return true;
  });
});

test.run();
