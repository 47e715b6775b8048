/**
 * End to end: five real daemon processes on 127.0.0.1 (this test's runtime, `local` gossip
 * preset) gossip over mutual-TLS WebSockets. Every member's view is read over its control socket
 * (`GET /core/1.0/cluster`), once through `cohort cluster list -f json`.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { PRESETS, suspicionTimeout } from "../../gossip/config.ts";
import { generateCertificate } from "../../lib/net/certificates.ts";
import {
  type ClusterEntry,
  type ClusterMember,
  dialGossip,
  type GossipCluster,
  loggedStates,
  metricsOf,
  startGossipCluster,
  waitUntil,
} from "../helpers/gossip_cluster.ts";
import { value } from "../helpers/metrics.ts";
import { cohort } from "../helpers/process.ts";

const N = 5;
const RUNTIME_EXTENSION = "internal:runtime_extension_v1";

interface Ctx {
  cluster: GossipCluster;
}

const test = suite<Ctx>("gossip cluster end to end");

test.before(async (ctx) => {
  ctx.cluster = await startGossipCluster({
    members: N,
    preset: "local",
    extensions: ["feature_a"],
  });
});

test.after(async (ctx) => {
  await ctx.cluster?.stopAll();
});

const byName = (view: ClusterEntry[], name: string) => view.find((e) => e.name === name);
const running = (ctx: Ctx) => ctx.cluster.members.filter((m) => ctx.cluster.running(m));

/** Waits until `check` holds for the view of every member in `observers`. */
async function everyView(
  ctx: Ctx,
  observers: ClusterMember[],
  check: (view: ClusterEntry[], observer: ClusterMember) => boolean,
  what: string,
  timeoutMs: number,
): Promise<number> {
  return await waitUntil(
    async () => {
      const views = await Promise.all(observers.map((m) => ctx.cluster.view(m)));
      return views.every((v, i) => check(v, observers[i]));
    },
    what,
    timeoutMs,
  );
}

/**
 * The longest a crash may take to be declared everywhere under the `local` preset when only the
 * suspicion path works: every survivor reaches the victim in its round-robin within N−1 probe
 * intervals, then the probe timeout, the full (unconfirmed) suspicion timeout, and one second
 * for the `dead` update to spread.
 */
function localDetectionBoundMs(n: number): number {
  const c = PRESETS.local;
  const suspicion = c.suspicionMaxTimeoutMult *
    suspicionTimeout(c.suspicionMult, n, c.probeIntervalMs);
  return (n - 1) * c.probeIntervalMs + c.probeTimeoutMs + suspicion + 1000;
}

test("every member lists all five ONLINE with their extension lists and verdicts", async (ctx) => {
  const { members } = ctx.cluster;
  const expected = [RUNTIME_EXTENSION, "feature_a"];
  await everyView(
    ctx,
    members,
    (view) =>
      view.length === N &&
      view.every((e) => e.status === "ONLINE" && e.extension_verdict.verdict === "equal"),
    "five ONLINE members with equal verdicts in every view",
    20_000,
  );
  for (const m of members) {
    const view = await ctx.cluster.view(m);
    assert.equal(view.map((e) => e.name), members.map((x) => x.name), `names at ${m.name}`);
    for (const e of view) {
      assert.equal(e.extensions, expected, `${e.name}'s extensions at ${m.name}`);
      assert.equal(e.extension_verdict, { verdict: "equal", missing: [], extra: [] });
      assert.is(e.app_version, "1.0.0");
    }
  }
  // The same through the real CLI.
  const list = await cohort(["cluster", "list", "-f", "json", "--state-dir", members[2].dir]);
  assert.is(list.code, 0, list.stderr);
  const json = JSON.parse(list.stdout) as ClusterEntry[];
  assert.equal(json.map((e) => e.status), Array(N).fill("ONLINE"));
  assert.equal(json.map((e) => e.extensions), Array(N).fill(expected));
});

/** A member's gossip connections by who dialled them (its metrics, over the control socket). */
async function connectionsOf(m: ClusterMember): Promise<{ inbound: number; outbound: number }> {
  const body = await metricsOf(m);
  const of = (direction: string) => value(body, "cohort_gossip_connections", { direction }) ?? NaN;
  return { inbound: of("inbound"), outbound: of("outbound") };
}

test("a pair of members shares one gossip connection, not one each way", async (ctx) => {
  // Every member probes every other within a probe cycle and keeps the connection open: one
  // each way would be N × (N − 1) = 20. Two dialled at once close down to one within 2 sweeps.
  const members = running(ctx);
  let last: { inbound: number; outbound: number }[] = [];
  const pairs = N * (N - 1) / 2;
  try {
    await waitUntil(
      async () => {
        last = await Promise.all(members.map(connectionsOf));
        const total = last.reduce((n, c) => n + c.outbound, 0);
        return total <= pairs && last.every((c) => c.inbound + c.outbound <= N - 1);
      },
      `at most ${pairs} connections`,
      45_000,
    );
  } catch (err) {
    throw new Error(`${err}: ${JSON.stringify(last)}`);
  }
  // And none is left without one (a member nobody reaches would pass the bound).
  assert.ok(last.every((c) => c.inbound + c.outbound >= 1), JSON.stringify(last));
});

test("the merged view is persisted into core_cluster_members", async (ctx) => {
  const first = ctx.cluster.members[0];
  const view = await ctx.cluster.view(first);
  const roles = new Map(view.map((e) => [e.name, e.role]));
  let rows: string[][] = [];
  // Written in batches (once a second), so allow a few batches.
  await waitUntil(
    async () => {
      const r = await cohort([
        "sql",
        "SELECT name, heartbeat, role FROM core_cluster_members ORDER BY name",
        "--state-dir",
        first.dir,
      ]);
      if (r.code !== 0) throw new Error(r.stderr);
      rows = r.stdout.trim().split("\n").slice(1).map((l) => l.trim().split(/\s+/));
      return rows.length === N && rows.every(([name, , role]) => roles.get(name) === role);
    },
    "five persisted rows with the view's roles",
    10_000,
    200,
  );
  assert.equal(rows.map((r) => r[0]), ctx.cluster.members.map((m) => m.name));
  assert.ok(roles.get(first.name) === "voter", "the bootstrap member votes");
  for (const [name, heartbeat] of rows) {
    assert.ok(heartbeat !== "0" && heartbeat !== "" && heartbeat !== "NULL", `${name} heartbeat`);
  }
});

test("a peer whose certificate is not trusted is refused (403) and the member keeps working", async (ctx) => {
  const target = ctx.cluster.members[0];
  const stranger = await generateCertificate({ name: "mallory", addresses: ["127.0.0.1"] });
  const answer = await dialGossip(target, stranger, "127.0.0.1:1");
  const status = typeof answer === "number" ? answer : (answer.terminate(), 101);
  assert.is(status, 403, "the upgrade is refused");
  // The member logs the refusal as it answers: the line may land just after the answer.
  await waitUntil(
    () => /Gossip connection rejected/.test(target.proc!.logs()),
    "the refusal in the member's log",
    5000,
  );
  // Still gossiping: every member still sees the target ONLINE, and it sees them.
  await everyView(
    ctx,
    ctx.cluster.members,
    (view) => view.length === N && view.every((e) => e.status === "ONLINE"),
    "five ONLINE members after the refused peer",
    5000,
  );
  assert.is(target.proc!.child.exitCode, null, "the member is still running");
});

test("an extension-list change (restart with one more) reaches every member", async (ctx) => {
  const { cluster } = ctx;
  const changed = cluster.members[1];
  const others = cluster.members.filter((m) => m !== changed);
  assert.is(await cluster.stop(changed), 0, changed.proc!.logs());
  changed.extensions = ["feature_a", "feature_b"];
  await cluster.start(changed);
  const full = [RUNTIME_EXTENSION, "feature_a", "feature_b"];
  await everyView(
    ctx,
    others,
    (view) => {
      const e = byName(view, changed.name);
      return !!e && e.extensions.length === 3 && e.extension_verdict.verdict === "behind";
    },
    `${changed.name}'s new extension list at every other member`,
    15_000,
  );
  for (const m of others) {
    const e = byName(await cluster.view(m), changed.name)!;
    assert.equal(e.extensions, full, `${changed.name}'s extensions at ${m.name}`);
    assert.equal(e.extension_verdict, { verdict: "behind", missing: ["feature_b"], extra: [] });
  }
  // And the changed member sees itself ahead of every other.
  await everyView(
    ctx,
    [changed],
    (view) => others.every((o) => byName(view, o.name)?.extension_verdict.verdict === "ahead"),
    `${changed.name} ahead of the others`,
    15_000,
  );
  const own = await cluster.view(changed);
  for (const o of others) {
    assert.equal(byName(own, o.name)!.extension_verdict, {
      verdict: "ahead",
      missing: [],
      extra: ["feature_b"],
    });
  }
});

test("kill -9 of a member is detected (dead, UNREACHABLE) by all others within the local bound", async (ctx) => {
  const { cluster } = ctx;
  const victim = cluster.members[N - 1];
  const survivors = running(ctx).filter((m) => m !== victim);
  const bound = localDetectionBoundMs(N);
  const started = Date.now();
  await cluster.kill(victim);
  const took = await everyView(
    ctx,
    survivors,
    (view) => byName(view, victim.name)?.status === "UNREACHABLE",
    `${victim.name} UNREACHABLE everywhere`,
    bound + 2000,
  );
  // Timed from the signal (the crash itself), including the views' polling: the bound counts
  // the full suspicion path, while the refused connection declares the victim dead in seconds.
  const elapsed = Date.now() - started;
  assert.ok(elapsed <= bound, `detected in ${elapsed} ms (${took} ms polling), bound ${bound} ms`);
  for (const m of survivors) {
    await waitUntil(
      () => loggedStates(m, victim.name).includes("dead"),
      `${m.name} logs ${victim.name} dead`,
      10_000,
    );
    assert.not.ok(loggedStates(m, victim.name).includes("left"), "a crash is never a leave");
  }
});

test("a SIGTERM-stopped member shows UNREACHABLE at once (graceful leave)", async (ctx) => {
  const { cluster } = ctx;
  const leaver = cluster.members[N - 2];
  const others = running(ctx).filter((m) => m !== leaver);
  assert.is(await cluster.stop(leaver), 0, leaver.proc!.logs());
  // The daemon spreads `left` before it exits, so the others know without the failure
  // detector's timeouts: the bound is half the detection bound of the kill -9 test above (about
  // 23 s with this preset), timed from the exit. A quiet machine takes well under a second; the
  // rest is room for the views' polling on a loaded 2-core CI machine.
  const bound = Math.floor(localDetectionBoundMs(N) / 2);
  const took = await everyView(
    ctx,
    others,
    (view) => byName(view, leaver.name)?.status === "UNREACHABLE",
    `${leaver.name} UNREACHABLE everywhere after its exit`,
    bound,
  );
  assert.ok(took < bound, `took ${took} ms after exit, bound ${bound} ms`);
  // Every member ends with `left`: a refused reconnect racing the leave message may log `dead`
  // first, but `left` wins, so the member is never reported as crashed in the end.
  await waitUntil(
    () => Promise.resolve(others.every((m) => loggedStates(m, leaver.name).at(-1) === "left")),
    `every member logs ${leaver.name} left last`,
    10_000,
  );
  // The rest of the cluster is unaffected: no other member shows a failure (the extension
  // difference from the earlier test shows as an upgrade status, which is not a failure).
  await everyView(
    ctx,
    others,
    (view) =>
      others.every((m) => {
        const status = byName(view, m.name)?.status;
        return status !== undefined && status !== "UNREACHABLE" && status !== "SUSPECT";
      }),
    "no other member shows a failure",
    10_000,
  );
});

test.run();
