/**
 * A restarted member refuses itself only on what it heard in this run, not on what its store
 * remembers from before it stopped. q1 waits with a new list (q2 stores it), q2 stops, q1 is
 * rolled back to the old list and opens; q2 restarts with the old list while q1's first answers
 * are lost: q2 must hear q1 before it decides, not refuse itself because of q1's remembered
 * waiting versions ("members ahead: q1"; met under load, a push-pull that came late).
 * Whole members on the simulated clock, file stores.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

const test = suite("a start refuses only on what it heard");

const OLD = ["feature_a"];
const NEW = ["feature_a", "feature_b"];

/**
 * A cluster of q1 (bootstrapped) and q2 (joined), both running OLD, each with a file store;
 * `start` starts member `i` again with `extensions`, `close` removes the state directories.
 */
async function pair(seed: number) {
  const sim = new MemoryCluster(seed);
  const dirs = ["q1", "q2"].map((n) => mkdtempSync(join(tmpdir(), `cohort-gate-${n}-`)));
  const start = (i: number, extensions: string[]) =>
    sim.start(`q${i + 1}`, { stateDir: dirs[i], databaseUrl: undefined, extensions });
  const stop = (d: Daemon) => sim.drive(d.stop());
  const close = () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  try {
    const q1 = await start(0, OLD);
    const q2 = await start(1, OLD);
    await sim.drive(q1.initialize({ bootstrap: true, name: "q1", address: memberAddress(1) }));
    const token = await q1.createToken("q2", 0);
    await sim.drive(
      q2.initialize({ bootstrap: false, name: "q2", address: memberAddress(2), join_token: token }),
    );
    await sim.run(3000);
    return { sim, start, stop, close, q1, q2 };
  } catch (err) {
    close();
    throw err;
  }
}

test("a member rolled back while another was down: the other's restart opens, though it hears it late", async () => {
  const { sim, start, stop, close, ...members } = await pair(3);
  let { q1, q2 } = members;
  try {
    await stop(q1);
    q1 = await start(0, NEW);
    assert.is(q1.status(), "waiting", "q1 waits for q2");
    await sim.run(3000); // q2 stores q1's waiting versions
    await stop(q2);
    await stop(q1);
    q1 = await start(0, OLD);
    assert.is(q1.status(), "online", "rolled back, q1 opens: q2 last ran the same");

    // q1's gossip reaches q2 only after a while.
    sim.net.dropWhere((from, to) => from === memberAddress(1) && to === memberAddress(2));
    sim.clock.setTimeout(() => sim.net.dropWhere(undefined), 1500);
    q2 = await start(1, OLD);
    assert.is(q2.status(), "online");
    await sim.stop();
  } finally {
    close();
  }
});

test("a member that upgraded further while another was down: the other's restart refuses itself, though it hears it late", async () => {
  // q2 stores q1 as behind (OLD) and would wait for it; q1 runs NEWER meanwhile, so q2 (NEW) is
  // behind and must refuse. Deciding on the stored versions left q2 waiting for good ("Cannot
  // open: ... members ahead"), since a waiting member never refuses itself afterwards.
  const NEWER = [...NEW, "feature_c"];
  const { sim, start, stop, close, q2, ...members } = await pair(4);
  let { q1 } = members;
  try {
    await stop(q2);
    await stop(q1);
    q1 = await start(0, NEWER);
    assert.is(q1.status(), "waiting", "q1 waits for q2");

    // q1's gossip reaches q2 only after a while.
    sim.net.dropWhere((from, to) => from === memberAddress(1) && to === memberAddress(2));
    sim.clock.setTimeout(() => sim.net.dropWhere(undefined), 1500);
    const refused = await start(1, NEW).then(
      (d) => `started: ${d.status()}`,
      (err) => (err as Error).message,
    );
    assert.match(refused, /behind/, "q2 refuses itself: q1 is ahead");
    await sim.stop();
  } finally {
    close();
  }
});

test.run();
