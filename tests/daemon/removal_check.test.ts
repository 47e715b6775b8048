/**
 * `RemovalCheck` (lib/daemon/removal_check.ts): a running member whose certificate a member's
 * gossip listener refused asks that member whether it was removed, and ends its membership on a
 * tombstone newer than its own admission; one question at a time, at most one per address per
 * QUESTION_GAP_MS, and none unless it is waiting or online.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { MemberContext } from "../../lib/daemon/context.ts";
import type { PeerAnswer, PeerRequest } from "../../lib/daemon/peers.ts";
import { QUESTION_GAP_MS, RemovalCheck } from "../../lib/daemon/removal_check.ts";
import { silentLogger } from "../../lib/log.ts";
import { keyPair } from "../net/_helpers.ts";

const test = suite("a member refused by another asks whether it was removed");

interface Fake {
  check: RemovalCheck;
  asked: PeerRequest[];
  phases: string[];
  /** Answers the pending questions with `answer` (in order). */
  answer(answer: PeerAnswer | Error): Promise<void>;
  advance(ms: number): void;
  setPhase(p: string): void;
}

/** `ownVersion`: its own record's version; `joinedAt`: the admission that record states. */
async function fake(ownVersion = 3, joinedAt?: number): Promise<Fake> {
  const pair = await keyPair("cluster");
  let now = 1000;
  let phase = "online";
  const phases: string[] = [];
  const asked: PeerRequest[] = [];
  const pending: ((a: PeerAnswer | Error) => void)[] = [];
  const work: Promise<unknown>[] = [];
  const ctx = {
    env: {
      clock: { now: () => now },
      peers: {
        request(r: PeerRequest): Promise<PeerAnswer> {
          asked.push(r);
          return new Promise((resolve, reject) =>
            pending.push((a) => a instanceof Error ? reject(a) : resolve(a))
          );
        },
      },
    },
    logger: silentLogger,
    machine: {
      is: (...ps: string[]) => ps.includes(phase),
      to(p: string, reason: string) {
        phase = p;
        phases.push(`${p}: ${reason}`);
      },
    },
    background: {
      run(what: string, fn: () => unknown): Promise<void> {
        // The reset itself is the leave flow's (tested with it): only the question runs here.
        if (what === "Leaving the cluster") return Promise.resolve();
        const p = (async () => void await fn())();
        work.push(p);
        return p;
      },
    },
    network: {
      config: { name: "m3" },
      gossip: {
        record: (_kind: string, key: string) =>
          key === "m3"
            ? { version: ownVersion, value: joinedAt === undefined ? undefined : { joinedAt } }
            : undefined,
      },
      identity: { cert: pair.cert, key: pair.key, clusterCert: pair.cert, clusterKey: pair.key },
    },
  } as unknown as MemberContext;
  return {
    check: new RemovalCheck(ctx),
    asked,
    phases,
    async answer(a) {
      while (pending.length) pending.shift()!(a);
      await Promise.all(work);
    },
    advance: (ms) => void (now += ms),
    setPhase: (p) => void (phase = p),
  };
}

const removed = (version: number): PeerAnswer => ({
  status: 200,
  body: { metadata: { removed: true, version } },
});

test("a tombstone newer than its admission ends its membership", async () => {
  const f = await fake(3);
  f.check.refused("10.0.0.1:7443");
  assert.is(f.asked.length, 1);
  assert.is(f.asked[0].address, "10.0.0.1:7443");
  assert.is(f.asked[0].method, "GET");
  assert.is(f.asked[0].path, "/core/internal/cluster/m3");
  await f.answer(removed(9));
  assert.equal(f.phases, ["removed: removed, as a member that refused it said"]);
});

test("a tombstone newer than its admission ends its membership though its record was rewritten after it", async () => {
  // Removed with --force while its join was under way, it completed the join before it heard
  // the tombstone (version 9): its own rewrite clearing the join's mark came later (12).
  const f = await fake(12, 3);
  f.check.refused("10.0.0.1:7443");
  await f.answer(removed(9));
  assert.equal(f.phases, ["removed: removed, as a member that refused it said"]);
});

test("a member that still lists it, an old tombstone or no answer change nothing", async () => {
  for (
    const answer of [
      { status: 200, body: { metadata: { removed: false } } },
      removed(2),
      { status: 403, body: {} },
      new Error("ECONNRESET"),
    ]
  ) {
    const f = await fake(3);
    f.check.refused("10.0.0.1:7443");
    await f.answer(answer);
    assert.equal(f.phases, [], JSON.stringify(answer));
  }
});

test("one question at a time, at most one per address per QUESTION_GAP_MS", async () => {
  const f = await fake();
  f.check.refused("10.0.0.1:7443");
  f.check.refused("10.0.0.2:7443");
  assert.is(f.asked.length, 1, "one at a time");
  await f.answer({ status: 200, body: { metadata: { removed: false } } });
  f.check.refused("10.0.0.1:7443");
  assert.is(f.asked.length, 1, "the same address again too soon");
  f.check.refused("10.0.0.2:7443");
  assert.is(f.asked.length, 2, "another address");
  await f.answer({ status: 200, body: { metadata: { removed: false } } });
  f.advance(QUESTION_GAP_MS);
  f.check.refused("10.0.0.1:7443");
  assert.is(f.asked.length, 3, "the first address once the gap passed");
  await f.answer(removed(9));
  assert.is(f.phases.length, 1);
});

test("no question unless it is waiting or online", async () => {
  for (const phase of ["joining", "removed", "stopping", "uninitialized", "refused"]) {
    const f = await fake();
    f.setPhase(phase);
    f.check.refused("10.0.0.1:7443");
    assert.is(f.asked.length, 0, phase);
  }
  const f = await fake();
  f.setPhase("waiting");
  f.check.refused("10.0.0.1:7443");
  assert.is(f.asked.length, 1, "waiting for an upgrade, it asks");
});

test.run();
