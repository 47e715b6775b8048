/**
 * End to end, real processes: a member removed with `--force` while it was cut off (paused with
 * SIGSTOP, as on a partition or a frozen VM) and still running when it comes back. The others no
 * longer trust its certificate, so no gossip reaches it: it must learn its removal from their
 * refusals, stop serving and reset itself, within seconds of coming back.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import {
  api,
  daemonsLastLines,
  eventually,
  formCluster,
  isClean,
  type Member,
  members,
  run,
  stopMembers,
} from "../helpers/cluster.ts";

interface Ctx {
  cluster: Member[];
}

const test = suite<Ctx>("a member removed while away");

test.before(async (ctx) => {
  ctx.cluster = await formCluster(["w1", "w2", "w3", "w4"]);
});

test.after(async (ctx) => {
  for (const m of ctx.cluster ?? []) {
    if (m.daemon?.child.exitCode === null) {
      try {
        process.kill(m.daemon.child.pid!, "SIGCONT");
      } catch { /* gone */ }
    }
  }
  await stopMembers(ctx.cluster ?? []);
});

test("removed with --force while paused, it resets itself once it runs again", async (ctx) => {
  const [w1, w2, , w4] = ctx.cluster;
  const pid = w4.daemon!.child.pid!;
  process.kill(pid, "SIGSTOP");
  try {
    await eventually("w4 unreachable on w1", async () => {
      return (await members(w1)).find((e) => e.name === "w4")?.status === "UNREACHABLE";
    }, 20_000);
    const r = await run(w1, ["cluster", "remove", "w4", "--force"]);
    assert.is(r.code, 0, r.stderr);
    // Every other member drops w4 (and its certificate) before it comes back.
    await eventually("w4 gone from w1, w2 and w3", async () => {
      for (const m of ctx.cluster.slice(0, 3)) {
        if ((await members(m)).some((e) => e.name === "w4")) return false;
      }
      return true;
    }, 20_000);
  } finally {
    process.kill(pid, "SIGCONT");
  }
  const resumed = Date.now();
  try {
    await eventually("w4 reset itself", async () => {
      const info = await api(w4, "GET", "/core/1.0");
      return isClean(w4) && info.body?.metadata?.address === "";
    }, 20_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${daemonsLastLines([w4], 40)}`);
  }
  const ms = Date.now() - resumed;
  assert.ok(ms < 20_000, `reset ${ms} ms after it ran again`);
  // The rest of the cluster is untouched.
  for (const m of [w1, w2]) {
    const names = (await members(m)).map((e) => `${e.name}:${e.status}`).join(",");
    assert.is(names, "w1:ONLINE,w2:ONLINE,w3:ONLINE");
  }
});

test.run();
