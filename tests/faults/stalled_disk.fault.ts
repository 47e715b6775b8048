/**
 * A stalled disk, as a joining member meets it: its fsyncs of the join's mark
 * (`transition.json`) take seconds (a loaded disk took 40 s once while 50 members formed). Real
 * daemons; the joiner runs with `slow_fsync.c` preloaded (compiled here with gcc, installed
 * with apt-get when missing), which makes each fsync of a file whose path holds
 * `transition.json` sleep first. The join waits for its mark, as it must; the member's control
 * API keeps answering meanwhile. Before: one status request took as long as the stall (7.7 s of
 * an 8 s stall under Node, 8.1 s under Deno), the whole event loop frozen in the sync.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  api,
  bootstrap,
  daemonArgs,
  daemonsLastLines,
  issueToken,
  type Member,
  newMember,
  run,
  startMember,
  stopMembers,
} from "../helpers/cluster.ts";
import { removeDir, startDaemonProcess, tempDir, waitForSocket } from "../helpers/process.ts";
import { ensureCommand, load, underCi } from "./system.ts";
import { faultTest } from "./suite.ts";

/** How long each fsync of the mark sleeps, ms. */
const STALL_MS = 6000;
/** The slowest status answer allowed while the mark's sync is held, ms (a fraction of it). */
const ANSWER_BOUND_MS = STALL_MS / 2;

interface Ctx {
  members: Member[];
  dir?: string;
}

const test = suite<Ctx>("a stalled disk at a join");

test.before((ctx) => {
  ctx.members = [];
});

test.after(async (ctx) => {
  await stopMembers(ctx.members);
  if (ctx.dir) removeDir(ctx.dir);
});

/** Compiles the fsync shim into `dir`: its path, or why it cannot be. */
function compileShim(dir: string): { path?: string; why?: string } {
  const why = ensureCommand("gcc", "gcc");
  if (why) return { why };
  const source = fileURLToPath(new URL("./slow_fsync.c", import.meta.url));
  const path = join(dir, "slow_fsync.so");
  const r = spawnSync("gcc", ["-shared", "-fPIC", "-O2", "-o", path, source, "-ldl"], {
    encoding: "utf8",
  });
  return r.status === 0 ? { path } : { why: `gcc failed: ${r.stderr || r.error}` };
}

faultTest(
  test,
  "a joiner answers its control API while the disk holds its mark's sync, and joins after",
  async (ctx) => {
    ctx.dir = tempDir("cohort-stall-");
    const shim = compileShim(ctx.dir);
    if (!shim.path) {
      if (underCi) assert.unreachable(`cannot build the fsync shim: ${shim.why}`);
      console.log(`SKIPPED (cannot build the fsync shim: ${shim.why})`);
      return;
    }
    const a = await newMember("a");
    ctx.members.push(a);
    await startMember(a);
    const b = await newMember("b");
    ctx.members.push(b);
    b.daemon = startDaemonProcess(daemonArgs(b), undefined, {
      LD_PRELOAD: shim.path,
      SLOW_FSYNC_MATCH: "transition.json",
      SLOW_FSYNC_MS: String(STALL_MS),
    });
    await waitForSocket(b.dir, b.daemon);
    await bootstrap(a);
    const token = await issueToken(a, "b");
    const started = Date.now();
    let done = false;
    const joined = run(b, ["init", "b", b.address, "--token", token]).finally(() => (done = true));
    const answers: number[] = [];
    while (!done) {
      const t0 = Date.now();
      const r = await api(b, "GET", "/core/1.0", undefined, 30_000);
      answers.push(Date.now() - t0);
      assert.is(r.status, 200);
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await joined;
    const took = Date.now() - started;
    const slowest = Math.max(...answers);
    console.log(
      `join ${took} ms under a ${STALL_MS} ms fsync stall; ${answers.length} status answers, ` +
        `slowest ${slowest} ms (${load()})`,
    );
    assert.is(r.code, 0, `${r.stderr}\n${daemonsLastLines(ctx.members)}`);
    assert.ok(took >= STALL_MS, `the join took ${took} ms: the fsync shim did not apply`);
    assert.ok(
      slowest < ANSWER_BOUND_MS,
      `a status request took ${slowest} ms while the mark was synced: the loop was held`,
    );
  },
);

test.run();
