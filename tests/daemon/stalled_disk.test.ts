/**
 * A disk that holds its syncs never holds a member's event loop. A membership change's mark
 * (`transition.json`) was written with a synchronous fsync: with a loaded disk holding it, a
 * joiner answered nothing for as long (its control API froze 7.7 s under an 8 s fsync, 40 s
 * once under load), and its join's deadline could not fire. Here the member's file seam holds
 * every sync of the mark until the test lets it go (a stalled disk): the loop keeps turning, the
 * step the mark guards waits for it, and a mark held past the join's deadline ends the join
 * with an error that names the disk, with nothing sent to withdraw.
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { JOIN_DEADLINE_MS, JOIN_UNDO_RESERVE_MS } from "../../lib/daemon/join.ts";
import { asyncFiles, type Files, useFiles } from "../../lib/files.ts";
import { createLogger, type Logger } from "../../lib/log.ts";
import { beginJoin, memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

interface Ctx {
  sim: MemoryCluster;
}

const test = suite<Ctx>("a stalled disk never holds the event loop");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(7);
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
});

/** The file seam with every sync of a path `held` matches waiting until released. */
function holdSyncs(held: (path: string) => boolean) {
  const requested: string[] = [];
  const waiting: (() => void)[] = [];
  let holding = true;
  const previous = useFiles(
    {
      ...asyncFiles,
      sync: async (path) => {
        if (holding && held(path)) {
          requested.push(path);
          await new Promise<void>((r) => waiting.push(r));
        }
        await asyncFiles.sync(path);
      },
    } satisfies Files,
  );
  return {
    requested,
    release() {
      holding = false;
      for (const go of waiting.splice(0)) go();
    },
    restore() {
      this.release();
      useFiles(previous);
    },
  };
}

const isMark = (path: string) => basename(path).startsWith("transition.json");

/** Real time passes (the clock does not), until `check()` holds or `ms` passed. */
async function realUntil(check: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; !check() && Date.now() < end;) {
    await new Promise((r) => setTimeout(r, 5));
  }
  return check();
}

/** Whether a real timer of `ms` fires within twice its time: the loop is turning. */
async function loopTurns(ms = 20): Promise<boolean> {
  const start = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return Date.now() - start < 2 * ms + 200;
}

function collecting(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ level: "debug", write: (l) => void lines.push(l) }), lines };
}

async function begin(sim: MemoryCluster, m1: Daemon, m2: Daemon) {
  return beginJoin(m2, "m2", memberAddress(2), await sim.drive(m1.createToken("m2", 0)));
}

async function unusedToken(m1: Daemon): Promise<boolean> {
  return (await m1.listTokens()).some((t) => t.name === "m2");
}

test("a joiner's mark is synced off the event loop, and its join request waits until it is on disk", async ({ sim }) => {
  const m1 = await sim.start("m1");
  await sim.drive(m1.initialize({ bootstrap: true, name: "m1", address: memberAddress(1) }));
  const m2 = await sim.start("m2");
  const hold = holdSyncs(isMark);
  try {
    const { join, answered } = await begin(sim, m1, m2);
    assert.ok(
      await realUntil(() => hold.requested.length > 0),
      "the join's mark was never synced through the member's file operations (a sync on the loop?)",
    );
    assert.ok(await loopTurns(), "the event loop stalled while the mark's sync was held");
    await sim.run(1000);
    assert.not.ok(answered(), "the join went on before its mark was on disk");
    assert.ok(await unusedToken(m1), "the join request left before its mark was on disk");
    hold.release();
    await sim.drive(join);
    assert.is(m2.status(), "online");
    assert.not.ok(existsSync(join_(m2, "transition.json")), "the mark outlived the commit");
  } finally {
    hold.restore();
  }
});

test("a mark held past the join's deadline: the join is not requested, its error names the disk, nothing to withdraw", async ({ sim }) => {
  const m1 = await sim.start("m1");
  await sim.drive(m1.initialize({ bootstrap: true, name: "m1", address: memberAddress(1) }));
  const { logger, lines } = collecting();
  const m2 = await sim.start("m2", {}, logger);
  const hold = holdSyncs(isMark);
  try {
    const { join } = await begin(sim, m1, m2);
    assert.ok(await realUntil(() => hold.requested.length > 0), "the mark was never synced");
    sim.clock.advance(JOIN_DEADLINE_MS - JOIN_UNDO_RESERVE_MS);
    hold.release();
    const err = await sim.drive(join.then(() => undefined, (e: Error) => e));
    assert.instance(err, Error, "the join succeeded past its deadline");
    assert.match(err!.message, /Join not requested: its mark \(.*transition\.json\) took 21 s/);
    assert.match(err!.message, /is the disk stalled\?/);
    assert.ok(await unusedToken(m1), "a join request left after its deadline");
    assert.is(m2.status(), "uninitialized");
    assert.not.ok(existsSync(join_(m2, "transition.json")), "the mark was left behind");
    await sim.run(10_000);
    const withdrawing = lines.filter((l) => /withdraw/i.test(l));
    assert.equal(withdrawing, [], "a join never requested was withdrawn");
  } finally {
    hold.restore();
  }
});

test("a member asked to leave records it off the event loop, and resets once it is on disk", async ({ sim }) => {
  const [m1, m2] = await sim.form(2);
  const hold = holdSyncs(isMark);
  try {
    const removal = m1.removeMember("m2", false);
    removal.catch(() => {});
    assert.ok(
      await realUntil(() => hold.requested.length > 0),
      "the leave's mark was never synced through the member's file operations",
    );
    assert.ok(await loopTurns(), "the event loop stalled while the mark's sync was held");
    await sim.run(1000);
    assert.ok(existsSync(join_(m2, "daemon.json")), "the reset began before its mark was on disk");
    hold.release();
    await sim.drive(removal);
    const reset = () =>
      m2.status() === "uninitialized" && !existsSync(join_(m2, "transition.json"));
    assert.ok(await sim.until(reset, 30_000), `status ${m2.status()}: the reset never completed`);
  } finally {
    hold.restore();
  }
});

function join_(d: Daemon, file: string): string {
  return join(d.paths.dir, file);
}

test.run();
