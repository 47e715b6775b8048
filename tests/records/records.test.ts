/**
 * The app's replicated records (`member.records`) on whole members in one process, on the
 * simulated clock: put / get / delete / list by prefix / watch, last writer wins with its
 * tie-break, every limit with its error code, availability before initialisation, and the
 * records restored from the member's store after a restart.
 */
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { statePaths } from "../../lib/daemon/state_dir.ts";
import { RECORDS_LIMITS } from "../../lib/records/limits.ts";
import type { RecordChange } from "../../lib/records/records.ts";
import { MemoryCluster } from "../helpers/memory_member.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

interface Ctx {
  sim: MemoryCluster;
  dirs: string[];
}

const test = suite<Ctx>("replicated records");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(11);
  ctx.dirs = [];
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
  for (const d of ctx.dirs) rmSync(d, { recursive: true, force: true });
});

const address = (i: number) => `10.0.0.${i}:7443`;

/** Starts m1..mN (stores in files when `dirs`), bootstraps m1 and joins the others. */
async function form(ctx: Ctx, n: number, files = false): Promise<Daemon[]> {
  const daemons: Daemon[] = [];
  for (let i = 1; i <= n; i++) daemons.push(await start(ctx, `m${i}`, files));
  await ctx.sim.drive(daemons[0].initialize({ bootstrap: true, name: "m1", address: address(1) }));
  for (let i = 2; i <= n; i++) {
    const token = await ctx.sim.drive(daemons[0].createToken(`m${i}`, 0));
    await ctx.sim.drive(
      daemons[i - 1].initialize({
        bootstrap: false,
        name: `m${i}`,
        address: address(i),
        join_token: token,
      }),
    );
  }
  await ctx.sim.run(1000);
  return daemons;
}

/** Starts member `name`; with `files`, its store is a file in a state directory of its own. */
function start(ctx: Ctx, name: string, files: boolean, stateDir?: string): Promise<Daemon> {
  if (!files) return ctx.sim.start(name);
  const dir = stateDir ?? mkdtempSync(join(tmpdir(), `cohort-rec-${name}-`));
  if (!stateDir) ctx.dirs.push(dir);
  return ctx.sim.start(name, {
    stateDir: dir,
    databaseUrl: `file:${statePaths(dir).database}`,
  });
}

/** Rejects with a cohort error of `code`? Returns its message. */
async function failsWith(code: string, fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    assert.is((err as { code?: string }).code, code, String(err));
    return (err as Error).message;
  }
  assert.unreachable(`expected ${code}`);
  return "";
}

test("before initialisation every read and write is E_UNAVAILABLE; watching is allowed", async (ctx) => {
  const m1 = await ctx.sim.start("m1");
  const message = await failsWith("E_UNAVAILABLE", () => m1.records.get("a"));
  assert.match(message, /not initialized \(bootstrap or join a cluster first\)/);
  await failsWith("E_UNAVAILABLE", () => m1.records.put("a", 1));
  await failsWith("E_UNAVAILABLE", () => m1.records.delete("a"));
  await failsWith("E_UNAVAILABLE", () => m1.records.list());
  await failsWith("E_UNAVAILABLE", () => m1.records.usage());
  const seen: RecordChange[] = [];
  m1.records.watch("", (c) => seen.push(c));
  await ctx.sim.drive(m1.initialize({ bootstrap: true, name: "m1", address: address(1) }));
  await ctx.sim.drive(m1.records.put("a", { n: 1 }));
  assert.equal(seen.map((c) => [c.key, c.value, c.local]), [["a", { n: 1 }, true]]);
});

test("a put on one member reaches every member; list by prefix is sorted by key", async (ctx) => {
  const [m1, m2, m3] = await form(ctx, 3);
  const entry = await ctx.sim.drive(m1.records.put("svc/web", { port: 80 }));
  assert.is(entry.writer, "m1");
  assert.is(entry.key, "svc/web");
  assert.equal(entry.value, { port: 80 });
  await ctx.sim.drive(m2.records.put("svc/db", { port: 5432 }));
  await ctx.sim.drive(m3.records.put("other", "x"));
  assert.ok(
    await ctx.sim.until(() => [m1, m2, m3].every((d) => d.records.list().length === 3), 10_000),
    "every member holds the three keys",
  );
  for (const d of [m1, m2, m3]) {
    assert.equal(d.records.list("svc/").map((e) => [e.key, e.value, e.writer]), [
      ["svc/db", { port: 5432 }, "m2"],
      ["svc/web", { port: 80 }, "m1"],
    ]);
    assert.equal(d.records.get("other")?.value, "x");
    assert.is(d.records.get("missing"), undefined);
    assert.equal(d.records.usage(), { keys: 3, chars: 11 + 13 + 3 });
  }
  // Values are frozen copies: the caller's object stays its own.
  const mine = { list: [1, 2] };
  const put = await ctx.sim.drive(m1.records.put("mine", mine));
  mine.list.push(3);
  assert.equal(put.value, { list: [1, 2] });
  assert.ok(Object.isFrozen(m1.records.get<{ list: number[] }>("mine")!.value.list));
});

test("last writer wins: concurrent writes of one version resolve to the greater writer name everywhere; a later write wins", async (ctx) => {
  const daemons = await form(ctx, 3);
  const [m1, m2, m3] = daemons;
  // Same simulated instant: the same version on both writers.
  const a = m1.records.put("leader-hint", "from m1");
  const b = m3.records.put("leader-hint", "from m3");
  const [ea, eb] = await ctx.sim.drive(Promise.all([a, b]));
  assert.is(ea.version, eb.version, "one version");
  const all = (v: string) => daemons.every((d) => d.records.get("leader-hint")?.value === v);
  assert.ok(await ctx.sim.until(() => all("from m3"), 10_000), "m3 > m1 wins the tie");
  // m1 has now seen m3's version: its next write is above it, and wins.
  const later = await ctx.sim.drive(m1.records.put("leader-hint", "m1 again"));
  assert.ok(later.version > eb.version);
  assert.ok(await ctx.sim.until(() => all("m1 again"), 10_000));
  // A delete beats a value of the same version, and spreads.
  assert.is(await ctx.sim.drive(m2.records.delete("leader-hint")), true);
  assert.ok(
    await ctx.sim.until(() => daemons.every((d) => d.records.get("leader-hint") === undefined)),
  );
  assert.is(await ctx.sim.drive(m2.records.delete("leader-hint")), false, "already deleted");
  assert.is(await ctx.sim.drive(m2.records.delete("never")), false);
  // The tombstone counts until it expires (7 days), then the key is gone.
  assert.equal(m1.records.usage(), { keys: 1, chars: 0 });
  const tomb = m1.view!.record("app", "leader-hint")!;
  assert.is(tomb.expiresAt! - tomb.version, RECORDS_LIMITS.tombstoneMs);
});

test("every limit has its error code, and a refused write changes nothing", async (ctx) => {
  const [m1] = await form(ctx, 1);
  const r = m1.records;
  assert.match(await failsWith("E_INVALID", () => r.put("", 1)), /key: must not be empty/);
  await failsWith("E_INVALID", () => r.put("a\nb", 1));
  await failsWith("E_INVALID", () => r.get("\ud800"));
  await failsWith("E_TOO_LARGE", () => r.put("k".repeat(RECORDS_LIMITS.keyChars + 1), 1));
  await ctx.sim.drive(r.put("k".repeat(RECORDS_LIMITS.keyChars), 1));
  await failsWith("E_INVALID", () => r.put("a", null as unknown as number));
  await failsWith("E_INVALID", () => r.put("a", undefined as unknown as number));
  await failsWith("E_INVALID", () => r.put("a", NaN));
  await failsWith("E_INVALID", () => r.put("a", { when: new Date(0) }));
  await failsWith("E_INVALID", () => r.put("a", { f: () => 1 } as unknown as number));
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await failsWith("E_INVALID", () => r.put("a", cyclic));
  const big = "x".repeat(RECORDS_LIMITS.valueChars - 2); // JSON adds the quotes
  await ctx.sim.drive(r.put("big", big));
  assert.match(
    await failsWith("E_TOO_LARGE", () => r.put("big", big + "x")),
    /takes 4097 characters of JSON \(at most 4096\)/,
  );
  assert.is(r.get("big")?.value, big, "the refused write changed nothing");
  // The total budget: values of all keys together.
  let i = 0;
  while (r.usage().chars + RECORDS_LIMITS.valueChars <= RECORDS_LIMITS.totalChars) {
    await ctx.sim.drive(r.put(`fill/${i++}`, big));
  }
  const before = r.usage();
  assert.match(
    await failsWith("E_TOO_LARGE", () => r.put("one-more", big)),
    /all values would take \d+ characters of JSON \(at most 262144\)/,
  );
  assert.equal(r.usage(), before);
  // Replacing a value by a smaller one is always allowed.
  await ctx.sim.drive(r.put("fill/0", "small"));
  // The key budget (tombstones count).
  for (let j = 0; j < 64; j++) await ctx.sim.drive(r.delete(`fill/${j}`));
  while (r.usage().keys < RECORDS_LIMITS.maxKeys) {
    await ctx.sim.drive(r.put(`n/${i++}`, 0));
  }
  assert.match(await failsWith("E_TOO_LARGE", () => r.put("n/last", 0)), /1024 keys are held/);
  await ctx.sim.drive(r.put(`n/${i - 1}`, 1)); // an existing key may still change
});

test("watch: local and remote changes by prefix, in order, until unsubscribed; changes() ends on abort, break and stop", async (ctx) => {
  const [m1, m2] = await form(ctx, 2);
  const seen: string[] = [];
  const off = m2.records.watch(
    "cfg/",
    (c) =>
      seen.push(
        `${c.key}=${JSON.stringify(c.value)}<-${JSON.stringify(c.previous)} ${c.writer} ${c.local}`,
      ),
  );
  m2.records.watch("", () => {
    throw new Error("a faulty listener is logged and kept");
  });
  const abort = new AbortController();
  const iterated: RecordChange[] = [];
  const loop = (async () => {
    for await (const c of m2.records.changes({ prefix: "cfg/", signal: abort.signal })) {
      iterated.push(c);
    }
  })();
  await ctx.sim.drive(m1.records.put("cfg/a", 1));
  await ctx.sim.drive(m1.records.put("other", 1));
  assert.ok(await ctx.sim.until(() => seen.length === 1, 10_000));
  await ctx.sim.drive(m2.records.put("cfg/a", 2));
  await ctx.sim.drive(m2.records.delete("cfg/a"));
  assert.equal(seen, [
    "cfg/a=1<-null m1 false",
    "cfg/a=2<-1 m2 true",
    "cfg/a=null<-2 m2 true",
  ]);
  off();
  await ctx.sim.drive(m1.records.put("cfg/b", 1));
  await ctx.sim.until(() => m2.records.get("cfg/b") !== undefined, 10_000);
  assert.is(seen.length, 3, "unsubscribed");
  await ctx.sim.run(10);
  // The iterator saw each key's latest change (what it had not consumed was merged per key).
  assert.equal(iterated.at(-1)?.key, "cfg/b");
  assert.ok(iterated.some((c) => c.key === "cfg/a"));
  abort.abort();
  await ctx.sim.drive(loop);
  // Breaking out of a loop unsubscribes; stopping the member ends every loop.
  const it = m1.records.changes();
  const first = it.next();
  await ctx.sim.drive(m1.records.put("x", 1));
  assert.is((await ctx.sim.drive(first)).value?.key, "x");
  await it.return!();
  assert.equal(await it.next(), { done: true, value: undefined });
  const pending = m1.records.changes().next();
  await ctx.sim.drive(m1.stop());
  assert.equal(await pending, { done: true, value: undefined });
});

test("records are kept in the member's store and restored at restart, before any gossip", async (ctx) => {
  const [m1, m2] = await form(ctx, 2, true);
  await ctx.sim.drive(m1.records.put("kept", { v: 1 }));
  await ctx.sim.drive(m1.records.put("gone", 1));
  await ctx.sim.drive(m1.records.delete("gone"));
  await ctx.sim.until(() => m2.records.get("kept") !== undefined, 10_000);
  await ctx.sim.run(2000); // m2's persistence tick
  const dir = m2.paths.dir;
  await ctx.sim.drive(m2.stop());
  // While m2 is down: m1 changes one key and adds another.
  await ctx.sim.drive(m1.records.put("while-down", true));
  // m2 restarts cut off from m1: what it reads comes from its own store.
  ctx.sim.net.partition([address(1)], [address(2)]);
  ctx.sim.peers.setReachable(address(1), false);
  const again = await ctx.sim.drive(start(ctx, "m2", true, dir));
  await ctx.sim.until(() => again.status() === "online", 30_000);
  assert.equal(again.records.get("kept")?.value, { v: 1 });
  assert.is(again.records.get("gone"), undefined, "the delete was kept too");
  assert.is(again.view!.record("app", "gone")?.value, null, "as a tombstone");
  assert.is(again.records.get("while-down"), undefined);
  ctx.sim.net.heal();
  ctx.sim.peers.setReachable(address(1), true);
  assert.ok(
    await ctx.sim.until(() => again.records.get("while-down") !== undefined, 60_000),
    "the write made while it was down arrives by gossip",
  );
});

test.run();
