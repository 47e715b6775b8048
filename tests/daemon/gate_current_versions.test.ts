/**
 * A restarted member refuses itself only on what it heard in this run, not on what its store
 * remembers from before it stopped. q1 waits with a new list (q2 stores it), q2 stops, q1 is
 * rolled back to the old list and opens; q2 restarts with the old list while q1's first answers
 * are lost: q2 must hear q1 before it decides, not refuse itself because of q1's remembered
 * waiting versions ("members ahead: q1"; met under load, a push-pull that came late).
 * Whole members on the simulated clock, file stores.
 *
 * "Late" is an event, not a moment: q1's frames to q2 are dropped until q2 says it waits to hear
 * from q1 before deciding (its first exchange got no answer), so what q2 learns of q1 arrives
 * after the point where a start deciding on its store would have decided. Neither test depends
 * on when a random gossip timer fires, nor on how much simulated time the stores' real I/O takes.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { GossipFactory, GossipHandle } from "../../lib/daemon/gossip_port.ts";
import { createLogger, type Logger } from "../../lib/log.ts";
import { filePair } from "../helpers/file_pair.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

const test = suite("a start refuses only on what it heard");

const OLD = ["feature_a"];
const NEW = ["feature_a", "feature_b"];
/** What the start logs when it waits for members its store names (lib/daemon/flows/open.ts). */
const WAITING_TO_HEAR = "Waiting to hear from members before deciding";

/**
 * A cluster of q1 (bootstrapped) and q2 (joined), both running OLD, each with a file store (see
 * `filePair`); `start` starts member `i` again with `extensions` (and, when given, the logger
 * and gossip of that run), `close` removes the state directories.
 */
async function pair(seed: number) {
  const sim = new MemoryCluster(seed);
  const formed = await filePair(sim, OLD);
  const start = (
    i: number,
    extensions: string[],
    run: { logger?: Logger; gossip?: GossipFactory } = {},
  ) => formed.start(i, extensions, run.gossip ? { gossip: run.gossip } : {}, run.logger);
  return { ...formed, sim, start };
}

/**
 * Drops q1's frames to q2 until q2 logs {@link WAITING_TO_HEAR} naming q1, then lets them through
 * and calls `heard` (on the simulated clock, outside the logger). Returns q2's logger and what
 * was seen, so a test can tell that q1's answers were really lost first.
 */
function lateUntilWaiting(sim: MemoryCluster, heard: () => void = () => {}) {
  const seen = { dropped: 0, waiting: [] as unknown[] };
  const from = memberAddress(1);
  const to = memberAddress(2);
  sim.net.dropWhere((f, t) => f === from && t === to && ++seen.dropped > 0);
  const logger = createLogger({
    level: "info",
    write: (line) => {
      const entry = JSON.parse(line) as { msg?: string; members?: string[] };
      if (entry.msg !== WAITING_TO_HEAR || !entry.members?.includes("q1")) return;
      seen.waiting.push(entry);
      if (seen.waiting.length > 1) return;
      sim.net.dropWhere(undefined);
      sim.clock.setTimeout(heard, 0);
    },
  });
  return { logger, seen };
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

    // q2 asks q1 again by itself while it waits to hear it: nothing else is driven.
    const { logger, seen } = lateUntilWaiting(sim);
    q2 = await start(1, OLD, { logger });
    assert.is(q2.status(), "online");
    assert.ok(seen.dropped > 0, "q1's first answers to q2 were lost");
    assert.is(seen.waiting.length, 1, "q2 waited to hear q1, once");
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
    let q1Gossip: GossipHandle | undefined;
    const gossip: GossipFactory = (setup) => (q1Gossip = sim.gossip(setup));
    q1 = await start(0, NEWER, { gossip });
    assert.is(q1.status(), "waiting", "q1 waits for q2");

    // A start that would wait does not ask again within its short wait to hear (it would only
    // wait, not refuse, on what it remembers): q1's own push-pull brings the news, as q1's
    // reconnect or periodic exchange would.
    const { logger, seen } = lateUntilWaiting(sim, () => void q1Gossip!.join([memberAddress(2)]));
    const refused = await start(1, NEW, { logger }).then(
      (d) => `started: ${d.status()}`,
      (err) => (err as Error).message,
    );
    assert.match(refused, /behind/, "q2 refuses itself: q1 is ahead");
    assert.ok(seen.dropped > 0, "q1's first answers to q2 were lost");
    assert.is(seen.waiting.length, 1, "q2 waited to hear q1, once");
    await sim.stop();
  } finally {
    close();
  }
});

test.run();
