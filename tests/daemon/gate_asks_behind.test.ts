/**
 * A waiting member that missed another's upgrade opens when the last member upgrades, not at its
 * next periodic push-pull. r1 and r2 restart upgraded and wait; every gossip frame telling r1 of
 * r2's new versions is lost (as a member of ten missed one in 14 rounds of
 * scripts/bench/upgrade_ready.ts and opened 8 s late); then r3 restarts upgraded. r1 waited for
 * r2 on what it last heard of it: the gate asks the members it still waits for directly once the
 * others caught up. Whole members on the simulated clock, file stores; the times compared are
 * those of the gate's decisions (their log lines), not of the stores' writes after them, whose
 * real I/O moves the simulated clock by the machine's speed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import type { Frame } from "../../lib/cluster/transport.ts";
import { createLogger, type Logger } from "../../lib/log.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

const test = suite("a waiting member asks the members it still waits for");

const OLD = ["feature_a"];
const NEW = ["feature_a", "feature_b"];

/** Whether `frame` carries state of member `name`: an update, or its entry in a full state. */
function about(frame: Frame, name: string): boolean {
  const f = frame as { pb?: { n?: string }[]; st?: { n?: string }[] };
  return (f.pb?.some((u) => u.n === name) || f.st?.some((e) => e.n === name)) ?? false;
}

test("r1 missed r2's upgrade: its gate opens within 500 ms of r3's start, not at its next push-pull", async () => {
  const sim = new MemoryCluster(7);
  const dirs = [1, 2, 3].map((i) => mkdtempSync(join(tmpdir(), `cohort-gate-r${i}-`)));
  const start = (i: number, extensions: string[], logger?: Logger) =>
    sim.start(`r${i}`, { stateDir: dirs[i - 1], databaseUrl: undefined, extensions }, logger);
  /** A logger noting when (simulated) a line whose message starts with `msg` was written. */
  const when = (msg: string) => {
    const seen: number[] = [];
    const logger = createLogger({
      level: "info",
      write: (line) => {
        if ((JSON.parse(line) as { msg?: string }).msg?.startsWith(msg)) seen.push(sim.clock.now());
      },
    });
    return { logger, seen };
  };
  const stop = (d: Daemon) => sim.drive(d.stop());
  try {
    const r = [await start(1, OLD), await start(2, OLD), await start(3, OLD)];
    await sim.drive(r[0].initialize({ bootstrap: true, name: "r1", address: memberAddress(1) }));
    for (const i of [2, 3]) {
      const token = await sim.drive(r[0].createToken(`r${i}`, 0));
      await sim.drive(
        r[i - 1].initialize({
          bootstrap: false,
          name: `r${i}`,
          address: memberAddress(i),
          join_token: token,
        }),
      );
    }
    await sim.run(3000);

    await stop(r[0]);
    const r1Opens = when("Every member upgraded: opening");
    r[0] = await start(1, NEW, r1Opens.logger);
    assert.is(r[0].status(), "waiting", "r1 waits");
    await sim.run(3000);
    // r1 misses r2's upgrade: every frame telling it of r2 is lost, the gossip of the upgrade and
    // what the others hold of r2; from r3's restart on, only r2's own push-pulls reach it.
    let lost = 0;
    let r2Answers = false;
    sim.net.dropWhere((from, to, frame) =>
      to === memberAddress(1) && about(frame, "r2") &&
      !(r2Answers && from === memberAddress(2) && (frame as { t?: string }).t === "pp") &&
      ++lost > 0
    );
    await stop(r[1]);
    r[1] = await start(2, NEW);
    assert.is(r[1].status(), "waiting", "r2 waits");
    await sim.run(3000);
    assert.is(r[0].status(), "waiting", "r1 still waits for r2 and r3");
    assert.ok(lost > 0, "gossip about r2 to r1 was lost");

    r2Answers = true;
    await stop(r[2]);
    const r3Opens = when("Phase changed");
    r[2] = await start(3, NEW, r3Opens.logger);
    assert.is(r[2].status(), "online", "r3 opens: every member runs NEW");
    const opened = await sim.until(() => r1Opens.seen.length > 0, 30_000);
    assert.ok(opened, "r1's gate opens");
    const late = r1Opens.seen[0] - r3Opens.seen[r3Opens.seen.length - 1];
    assert.ok(late <= 500, `r1's gate opened ${late} ms after r3 went online`);
    assert.ok(await sim.until(() => r[0].status() === "online", 5000), "r1 opens");
    assert.ok(await sim.until(() => r[1].status() === "online", 5000), "r2 opens");
    await sim.stop();
  } finally {
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  }
});

test.run();
