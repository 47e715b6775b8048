/**
 * End to end, with an app built on cohort (tests/e2e/fixtures/hook_app.ts) as real processes:
 * roles, and the `onHeartbeat` hook that reports their changes, follow a settled view. A member
 * restarted in an unchanged cluster comes back with the role it had; neither it nor any other
 * member sees a role change, and every member lists the same roles throughout.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  bootstrapAndJoin,
  eventually,
  type Member,
  members,
  newMember,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { hookLines, startApp } from "../helpers/app.ts";
import { isReady } from "../helpers/upgrade.ts";

interface Ctx {
  cluster: Member[];
}

const test = suite<Ctx>("roles across a restart end to end");

test.before(async (ctx) => {
  const list = await Promise.all(["h1", "h2", "h3"].map(async (n) => startApp(await newMember(n))));
  ctx.cluster = await bootstrapAndJoin(list);
});

test.after(async (ctx) => {
  await stopMembers(ctx.cluster ?? []);
});

/** `name:role` of every member as `on` lists them. */
async function roles(on: Member): Promise<string> {
  return (await members(on)).map((e) => `${e.name}:${e.role}`).join(",");
}

test("a restart of an unchanged cluster fires no onHeartbeat anywhere and changes no listed role", async ({ cluster }) => {
  const [h1, h2, h3] = cluster;
  const voters = "h1:voter,h2:voter,h3:voter";
  await eventually("three voters on every member", async () => {
    for (const m of cluster) if ((await roles(m)) !== voters) return false;
    return true;
  });
  // The formation's own role changes run their hooks after the listing shows three voters (a
  // hook line is written once the hook returns): count only once no hook line has been added
  // for 3 s, however long a loaded machine takes to get there.
  const before = await settledHookCounts([h1, h3]);

  await stop(h2);
  const seen = new Set<string>();
  const watch = (async () => {
    const until = Date.now() + 12_000;
    while (Date.now() < until) {
      for (const m of [h1, h3]) seen.add(`${m.name} lists ${await roles(m).catch(() => "?")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await startApp(h2);
  await eventually("h2 ready", () => isReady(h2));
  await watch;
  await eventually("h2 lists three voters", async () => (await roles(h2)) === voters);

  assert.equal(hookLines(h2, "onHeartbeat"), [], "onHeartbeat ran on the restarted member");
  assert.equal(
    [h1, h3].map((m) => hookLines(m, "onHeartbeat").length),
    before,
    "onHeartbeat ran on a member that stayed up",
  );
  assert.equal([...seen].sort(), [`h1 lists ${voters}`, `h3 lists ${voters}`]);
});

/** Each member's onHeartbeat line count, once none has changed for 3 s (at most 60 s). */
async function settledHookCounts(of: Member[]): Promise<number[]> {
  const counts = () => of.map((m) => hookLines(m, "onHeartbeat").length);
  const until = Date.now() + 60_000;
  let last = counts();
  let since = Date.now();
  while (Date.now() - since < 3000) {
    if (Date.now() > until) throw new Error(`onHeartbeat lines still changing: ${last}`);
    await new Promise((r) => setTimeout(r, 200));
    const now = counts();
    if (now.join() !== last.join()) [last, since] = [now, Date.now()];
  }
  return last;
}

test.run();
