/**
 * What a restarted member learns before it opens (lib/daemon/flows/rejoin_learn.ts): the cluster
 * from its push-pulls, and whether it was removed while it was down. A member that answered
 * its push-pull trusts its certificate, so it holds no removal of it (issue 15's wake-up: each
 * question was a connection of its own): only the others are asked. Whole members on the
 * simulated clock, the restarted one on a file store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import type { PeerAnswer, PeerRequest, PeerTransport } from "../../lib/daemon/peers.ts";
import type { DaemonOptions } from "../../lib/daemon/options.ts";
import type { GossipFactory } from "../../lib/daemon/gossip_port.ts";
import { ASK_SILENT_MS, ASK_WITHOUT_ANSWER_MS } from "../../lib/daemon/flows/rejoin_learn.ts";
import { createLogger } from "../../lib/log.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

interface Ctx {
  sim: MemoryCluster;
  dir: string;
}

const test = suite<Ctx>("a restarted member learns the cluster and its removal");

test.before.each((ctx) => {
  ctx.sim = new MemoryCluster(7);
  ctx.dir = mkdtempSync(join(tmpdir(), "cohort-rejoin-learn-"));
});

test.after.each(async (ctx) => {
  await ctx.sim.stop();
  rmSync(ctx.dir, { recursive: true, force: true });
});

/**
 * The members a restarting member asked whether it was removed, by address; with `at`, when
 * (simulated ms) each question was sent.
 */
function questionsTo(
  sim: MemoryCluster,
  name: string,
  asked: string[],
  at: number[] = [],
): PeerTransport {
  return {
    request(r: PeerRequest): Promise<PeerAnswer> {
      if (r.method === "GET" && r.path === `/core/internal/cluster/${name}`) {
        asked.push(r.address);
        at.push(sim.clock.now());
      }
      return sim.peers.request(r);
    },
  };
}

/**
 * A gossip factory over the cluster's that tells the member built with it that a listener
 * refused its certificate (what the WebSocket transport reports on a 403 to its dial): `refuse`
 * hands it to the last member built, one network trip later.
 */
function refusalReporting(sim: MemoryCluster): {
  gossip: GossipFactory;
  refuse(to: string): void;
} {
  let report: ((address: string) => void) | undefined;
  return {
    gossip: (setup) => {
      report = setup.onCertificateRefused;
      return sim.gossip(setup);
    },
    refuse: (to) => void sim.clock.setTimeout(() => report?.(to), 2),
  };
}

/**
 * Has the members in `daemons` (by address, from 1) drop what `from` sends them once they no
 * longer trust `fingerprint` (its certificate), as their listeners refuse its connections (a
 * 403 to the WebSocket upgrade; the in-memory transport authenticates nobody); `also`: frames
 * dropped besides.
 */
function refuseUntrusted(
  sim: MemoryCluster,
  daemons: Daemon[],
  from: string,
  fingerprint: string,
  also: (from: string, to: string) => boolean = () => false,
  refused?: (to: string) => void,
): void {
  const at = new Map(daemons.map((d, i) => [memberAddress(i + 1), d]));
  sim.net.dropWhere((f, t) => {
    if (also(f, t)) return true;
    if (f !== from || at.get(t)?.isTrusted(fingerprint) !== false) return false;
    refused?.(t);
    return true;
  });
}

/**
 * m1 bootstraps and admits m2..mN; the last one's state directory and database are `dir`, on
 * disk, so that it can restart from them.
 */
async function form(sim: MemoryCluster, n: number, dir: string): Promise<Daemon[]> {
  const daemons = await sim.form(
    n,
    (i) => i === n ? { stateDir: dir, databaseUrl: undefined } : {},
  );
  await sim.run(2000);
  return daemons;
}

/** Restarts member `name` from `dir`; its log lines are collected in `lines`. */
function restart(
  sim: MemoryCluster,
  name: string,
  dir: string,
  lines: Record<string, unknown>[],
  options: Partial<DaemonOptions> & { peers?: PeerTransport } = {},
): Promise<Daemon> {
  const logger = createLogger({
    level: "info",
    write: (l) => lines.push(JSON.parse(l)),
    now: () => sim.clock.now(),
  });
  return sim.start(name, { stateDir: dir, databaseUrl: undefined, ...options }, logger);
}

/** A restart {@link restartAsking} started: the member, and what it logged and asked. */
interface Restarted {
  daemon: Daemon;
  /** Its log lines, parsed. */
  lines: Record<string, unknown>[];
  /** The members it asked whether it was removed, by address, in order. */
  asked: string[];
  /** When (simulated ms) each of those questions was sent. */
  askedAt: number[];
  /** When (simulated ms) the restart began. */
  started: number;
}

/**
 * Restarts member `name` from `dir` with `lan` timing (unless `options` says otherwise),
 * recording its log lines and its questions whether it was removed ({@link questionsTo}).
 */
async function restartAsking(
  sim: MemoryCluster,
  name: string,
  dir: string,
  options: Partial<DaemonOptions> = {},
): Promise<Restarted> {
  const asked: string[] = [];
  const askedAt: number[] = [];
  const lines: Record<string, unknown>[] = [];
  const started = sim.clock.now();
  const daemon = await restart(sim, name, dir, lines, {
    gossipPreset: "lan",
    ...options,
    peers: questionsTo(sim, name, asked, askedAt),
  });
  return { daemon, lines, asked, askedAt, started };
}

test("a restart that every member answered asks none of them whether it was removed", async ({ sim, dir }) => {
  const daemons = await form(sim, 4, dir);
  await sim.drive(daemons[3].stop());
  await sim.run(1000);
  const { daemon: again, asked, lines } = await restartAsking(sim, "m4", dir, {
    gossipPreset: "local",
  });
  assert.is(again.status(), "online");
  assert.equal(asked, [], "members that answered its push-pull were asked");
  const rejoined = lines.find((l) => l.msg === "Rejoined the cluster");
  assert.is(rejoined?.removal_asked, 0, "the start's line says how many were asked");
});

test("a member removed while down learns it from the member holding the tombstone, though another that still lists it answered its push-pull", async ({ sim, dir }) => {
  const [m1, m2, m3] = await form(sim, 3, dir);
  const old = (await m1.clusterMembers()).find((e) => e.name === "m3")!;
  await sim.drive(m3.stop());
  // m2 hears nothing from m1 from now on: it never learns the removal.
  const a1 = memberAddress(1);
  const a2 = memberAddress(2);
  refuseUntrusted(
    sim,
    [m1, m2],
    memberAddress(3),
    old.fingerprint,
    (from, to) => (from === a1 && to === a2) || (from === a2 && to === a1),
  );
  await sim.drive(m1.removeMember("m3", true));
  await sim.run(2000);
  assert.is(m1.removalOf("m3", old.fingerprint).removed, true, "m1 holds the tombstone");
  assert.equal(m2.removalOf("m3", old.fingerprint), { removed: false }, "m2 still lists m3");
  const { daemon: again, asked, lines } = await restartAsking(sim, "m3", dir, {
    gossipPreset: "local",
  });
  assert.ok(
    await sim.until(() => again.status() === "uninitialized", 30_000),
    `m3 is ${again.status()}`,
  );
  const msgs = lines.map((l) => `${l.msg} ${l.reason ?? ""}`);
  assert.ok(msgs.includes("Phase changed removed while it was down"), msgs.join("\n"));
  assert.not.ok(msgs.some((m) => m.startsWith("Rejoined the cluster")), "m3 opened");
  assert.ok(asked.includes(a1), `m1 was not asked: ${asked}`);
  // m2 answered its push-pull (it still trusts m3's certificate): it had nothing to tell.
  assert.not.ok(asked.includes(a2), `m2, which answered the push-pull, was asked: ${asked}`);
});

test("a member removed while down resets on the first tombstone, not once its push-pulls time out", async ({ sim, dir }) => {
  const [m1, m2, m3] = await form(sim, 3, dir);
  const old = (await m1.clusterMembers()).find((e) => e.name === "m3")!;
  await sim.drive(m3.stop());
  refuseUntrusted(sim, [m1, m2], memberAddress(3), old.fingerprint);
  await sim.drive(m1.removeMember("m3", true));
  await sim.run(2000);
  // `lan`: an unanswered push-pull times out after 10 s; the others refuse m3's frames.
  const { daemon: again, lines, started } = await restartAsking(sim, "m3", dir);
  assert.ok(await sim.until(() => again.status() === "uninitialized", 30_000), again.status());
  const removedAt = lines.find((l) => l.msg === "Phase changed" && l.to === "removed")?.time;
  assert.type(removedAt, "number");
  // Nobody answers or refuses: its members are asked once the silence lasted ASK_SILENT_MS.
  assert.ok(
    (removedAt as number) - started < ASK_SILENT_MS + 500,
    `learnt its removal ${(removedAt as number) - started} ms after its restart began`,
  );
});

test("a member removed while down asks a member that refuses its certificate at once, not once no push-pull was answered for a while", async ({ sim, dir }) => {
  const [m1, m2, m3] = await form(sim, 3, dir);
  const old = (await m1.clusterMembers()).find((e) => e.name === "m3")!;
  await sim.drive(m3.stop());
  const refusals = refusalReporting(sim);
  const refusedAt: number[] = [];
  // Every member refuses m3's dials once it no longer trusts its certificate, as a listener
  // answers a 403; nobody answers its push-pulls.
  refuseUntrusted(sim, [m1, m2], memberAddress(3), old.fingerprint, undefined, (to) => {
    refusedAt.push(sim.clock.now());
    refusals.refuse(to);
  });
  await sim.drive(m1.removeMember("m3", true));
  await sim.run(2000);
  assert.is(m2.removalOf("m3", old.fingerprint).removed, true, "m2 holds the tombstone too");
  const { daemon: again, askedAt, lines } = await restartAsking(sim, "m3", dir, {
    gossip: refusals.gossip,
  });
  assert.ok(await sim.until(() => again.status() === "uninitialized", 30_000), again.status());
  assert.ok(refusedAt.length > 0, "no dial of m3 was refused");
  assert.ok(askedAt.length > 0, "m3 asked nobody");
  // The refusal is the signal: the question follows it by a network trip, not by the wait for
  // a push-pull answer that cannot come (ASK_WITHOUT_ANSWER_MS).
  const after = askedAt[0] - refusedAt[0];
  assert.ok(
    after < ASK_WITHOUT_ANSWER_MS / 5,
    `first question ${after} ms after the first refusal (the wait without an answer: ${ASK_WITHOUT_ANSWER_MS} ms)`,
  );
  const msgs = lines.map((l) => `${l.msg} ${l.reason ?? ""}`);
  assert.ok(msgs.includes("Phase changed removed while it was down"), msgs.join("\n"));
  assert.not.ok(msgs.some((m) => m.startsWith("Rejoined the cluster")), "m3 opened");
});

test("a restart asks a remembered member that is down at once, its push-pull refused, not once the others' answers were waited for", async ({ sim, dir }) => {
  const daemons = await form(sim, 4, dir);
  await sim.drive(daemons[3].stop());
  await sim.drive(daemons[1].stop()); // m2 is down: its address refuses connections
  await sim.run(1000);
  const a2 = memberAddress(2);
  const a4 = memberAddress(4);
  // The members that are up answer late (a loaded machine): none of their answers arrives
  // before the wait without an answer (ASK_WITHOUT_ANSWER_MS) ends.
  sim.net.dropWhere((from, to, f) =>
    to === a4 && from !== a2 && (f as { t?: string; r?: boolean }).t === "pp" &&
    (f as { r?: boolean }).r === true
  );
  const { daemon: again, asked, askedAt, started } = await restartAsking(sim, "m4", dir);
  sim.net.dropWhere(undefined);
  assert.is(again.status(), "online");
  const i = asked.indexOf(a2);
  assert.ok(i >= 0, `m2 (down) was not asked: ${asked}`);
  // Its push-pull failed on the refusal, a network trip after it was sent: before `lan`'s
  // request timeout (10 s), and before the wait for the others' answers.
  assert.ok(
    askedAt[i] - started < ASK_WITHOUT_ANSWER_MS / 5,
    `m2 asked ${
      askedAt[i] - started
    } ms after the restart began (the wait without an answer: ${ASK_WITHOUT_ANSWER_MS} ms)`,
  );
  for (const [j, a] of asked.entries()) {
    if (a !== a2) assert.ok(askedAt[j] - started >= ASK_WITHOUT_ANSWER_MS, `${a} asked early`);
  }
});

test("a restart whose push-pulls are all answered late (a loaded machine), none refusing it, asks none of them whether it was removed", async ({ sim, dir }) => {
  const daemons = await form(sim, 4, dir);
  await sim.drive(daemons[3].stop());
  await sim.run(1000);
  // Every frame takes 350 ms: the first push-pull answer comes about 700 ms after the restart
  // began, past ASK_WITHOUT_ANSWER_MS (as on a busy 2-core machine: 900 ms), within ASK_SILENT_MS.
  sim.net.setLatency(350);
  const { daemon: again, asked, askedAt, lines, started } = await restartAsking(sim, "m4", dir);
  sim.net.setLatency(0.25);
  assert.is(again.status(), "online");
  const rejoined = lines.find((l) => l.msg === "Rejoined the cluster");
  const first = rejoined?.push_pull_ms as number;
  assert.ok(
    first > ASK_WITHOUT_ANSWER_MS && first < ASK_SILENT_MS,
    `first answer ${first} ms after the restart began`,
  );
  assert.equal(
    asked,
    [],
    `asked at ${askedAt.map((t) => t - started)} ms, the first answer came at ${first} ms`,
  );
  assert.is(rejoined?.removal_asked, 0);
});

test("a member removed while down, refused late (a loaded machine), asks every member not answered at that refusal, not once the silence lasted", async ({ sim, dir }) => {
  const [m1, m2, m3] = await form(sim, 3, dir);
  const old = (await m1.clusterMembers()).find((e) => e.name === "m3")!;
  await sim.drive(m3.stop());
  const refusals = refusalReporting(sim);
  const a1 = memberAddress(1);
  const a2 = memberAddress(2);
  // m1 refuses m3's dials 700 ms late; m2, which holds the tombstone too, drops its frames
  // without a word (a listener that never answers).
  const refusedAt: number[] = [];
  let reported = false;
  refuseUntrusted(sim, [m1, m2], memberAddress(3), old.fingerprint, undefined, (to) => {
    if (to !== a1 || reported) return;
    reported = true;
    sim.clock.setTimeout(() => {
      refusedAt.push(sim.clock.now());
      refusals.refuse(to);
    }, 700);
  });
  await sim.drive(m1.removeMember("m3", true));
  await sim.run(2000);
  assert.is(m2.removalOf("m3", old.fingerprint).removed, true, "m2 holds the tombstone too");
  const { daemon: again, asked, askedAt, lines } = await restartAsking(sim, "m3", dir, {
    gossip: refusals.gossip,
  });
  assert.ok(await sim.until(() => again.status() === "uninitialized", 30_000), again.status());
  assert.is(refusedAt.length, 1, "m1's refusal was not reported");
  for (const a of [a1, a2]) {
    const i = asked.indexOf(a);
    assert.ok(i >= 0, `${a} was not asked: ${asked}`);
    const after = askedAt[i] - refusedAt[0];
    assert.ok(after < 50, `${a} asked ${after} ms after the refusal`);
  }
  const msgs = lines.map((l) => `${l.msg} ${l.reason ?? ""}`);
  assert.ok(msgs.includes("Phase changed removed while it was down"), msgs.join("\n"));
});

test("a restart whose first push-pull answer came at once asks none of the others, whose answers follow 150 ms later, whether it was removed", async ({ sim, dir }) => {
  const daemons = await form(sim, 4, dir);
  await sim.drive(daemons[3].stop());
  await sim.run(1000);
  // m2 and m3 are slow: their frames wait until 150 ms after m4's first push-pull went out;
  // m1 answers at once.
  const slow = [memberAddress(2), memberAddress(3)];
  for (const a of slow) sim.net.stall(a);
  let resuming = false;
  sim.net.dropWhere((from, _to, f) => {
    if (from === memberAddress(4) && (f as { t?: string }).t === "pp" && !resuming) {
      resuming = true;
      sim.clock.setTimeout(() => slow.forEach((a) => sim.net.resume(a)), 150);
    }
    return false;
  });
  const { daemon: again, asked, lines } = await restartAsking(sim, "m4", dir);
  sim.net.dropWhere(undefined);
  assert.is(again.status(), "online");
  const rejoined = lines.find((l) => l.msg === "Rejoined the cluster")!;
  const first = rejoined.push_pull_ms as number;
  assert.equal(asked, [], `asked, the first answer having come at ${first} ms`);
  assert.is(rejoined.push_pull_answered, 3);
  const last = rejoined.push_pull_last_ms as number;
  assert.ok(first < 50 && last >= 150, `answers at ${first} and ${last} ms`);
  assert.ok(last < ASK_WITHOUT_ANSWER_MS, `last answer at ${last} ms`);
});

test.run();
