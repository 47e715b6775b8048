/**
 * End to end, in process, as the README's "Replicated records" section has an app use them: a
 * member made with `createMember` watches `svc/` from the start ("Watching is allowed at once"),
 * then joins a cluster whose records include deleted keys. `watch` reports "every change here":
 * a key this member never held, deleted before it joined, is no change here, so the watcher hears
 * of the live keys only, and of a later delete of a key it held.
 */
import process from "node:process";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { createMember, type Daemon, type RecordChange, silentLogger } from "../../mod.ts";
import { inProcessIssuer } from "../../lib/net/cert_issuer.ts";
import { eventually } from "../helpers/cluster.ts";
import { freePort, removeDir, tempDir } from "../helpers/process.ts";

interface Ctx {
  daemons: Daemon[];
  dirs: string[];
}

const test = suite<Ctx>("README: records.watch on a joiner");

test.before((ctx) => {
  ctx.daemons = [];
  ctx.dirs = [];
});

test.after(async (ctx) => {
  await Promise.all(ctx.daemons.map((d) => d.stop()));
  for (const dir of ctx.dirs) removeDir(dir);
});

async function member(ctx: Ctx) {
  const dir = tempDir("cohort-readme-watch-");
  ctx.dirs.push(dir);
  const daemon = await createMember({
    stateDir: dir,
    gossipPreset: "local",
    logger: process.env.DEBUG_E2E ? undefined : silentLogger,
    // Key pairs made in this process: where they are made does not change what the records do.
    certificateIssuer: inProcessIssuer,
  });
  ctx.daemons.push(daemon);
  return { daemon, address: `127.0.0.1:${await freePort()}` };
}

const brief = (c: RecordChange) =>
  `${c.key}=${JSON.stringify(c.value)}<-${JSON.stringify(c.previous)}`;

test("a joiner's watcher hears of live keys, not of keys deleted before it joined", async (ctx) => {
  const a = await member(ctx);
  await a.daemon.initialize({ bootstrap: true, name: "a", address: a.address });
  await a.daemon.records.put("svc/old", { port: 1 });
  assert.is(await a.daemon.records.delete("svc/old"), true);
  await a.daemon.records.put("svc/web", { port: 8080 });

  const b = await member(ctx);
  const seen: string[] = [];
  b.daemon.records.watch("svc/", (c) => void seen.push(brief(c)));
  const token = await a.daemon.createToken("b", 0);
  await b.daemon.initialize({ bootstrap: false, name: "b", address: b.address, join_token: token });
  // The joiner holds both of a's keys: the live one and the tombstone (it counts until it expires).
  await eventually("b holds svc/web and svc/old's tombstone", () => {
    const { keys } = b.daemon.records.usage();
    if (keys !== 2 || !b.daemon.records.get("svc/web")) throw new Error(`${keys} keys`);
    return Promise.resolve(true);
  });
  assert.equal(seen, ['svc/web={"port":8080}<-null'], "only the live key is a change here");

  // A delete of a key the joiner held is a change, with what it held.
  await a.daemon.records.delete("svc/web");
  await eventually("b hears svc/web deleted", () => {
    if (seen.length < 2) throw new Error(seen.join(" "));
    return Promise.resolve(true);
  });
  assert.equal(seen, ['svc/web={"port":8080}<-null', 'svc/web=null<-{"port":8080}']);
});

test("a slow changes() consumer is not told of a key written and deleted before it looked", async (ctx) => {
  const a = await member(ctx);
  await a.daemon.initialize({ bootstrap: true, name: "a2", address: a.address });
  const stop = new AbortController();
  const changes = a.daemon.records.changes({ prefix: "tmp/", signal: stop.signal });
  // Nothing is read until all three writes are done: the consumer is slow.
  await a.daemon.records.put("tmp/gone", 1);
  await a.daemon.records.delete("tmp/gone");
  await a.daemon.records.put("tmp/kept", 2);
  const seen: string[] = [];
  for await (const c of changes) {
    seen.push(brief(c));
    if (c.key === "tmp/kept") stop.abort();
  }
  assert.equal(seen, ["tmp/kept=2<-null"]);
});

test.run();
