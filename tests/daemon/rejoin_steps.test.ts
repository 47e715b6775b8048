/**
 * A restarted member says where its start went (lib/daemon/flows/open.ts, issue 15's wake-up:
 * the last upgraded member's start is most of the wait of every member): one "Rejoined the
 * cluster" line with each step's wall time, in ms (and, in the real world, the process's CPU
 * time: `scripts/bench/upgrade_ready.ts` prints both). Whole members on the simulated clock,
 * file stores.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createLogger, type Logger } from "../../lib/log.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

const test = suite("a restarted member logs its start's steps");

const STEPS = ["read", "network", "learn", "lists", "hear", "migrations", "write"];

test("a restart logs one line with the time of each step, and the learning's two parts", async () => {
  const sim = new MemoryCluster(11);
  const dirs = [1, 2, 3].map((i) => mkdtempSync(join(tmpdir(), `cohort-steps-r${i}-`)));
  const start = (i: number, logger?: Logger) =>
    sim.start(`r${i}`, { stateDir: dirs[i - 1], databaseUrl: undefined }, logger);
  try {
    const r = [await start(1), await start(2), await start(3)];
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
    await sim.run(2000);
    await sim.drive(r[2].stop());
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: "info",
      write: (line) => lines.push(JSON.parse(line)),
    });
    r[2] = await start(3, logger);
    assert.is(r[2].status(), "online");
    const rejoined = lines.filter((l) => l.msg === "Rejoined the cluster");
    assert.is(rejoined.length, 1, "one line per start");
    const line = rejoined[0];
    assert.is(line.decision, "open");
    for (const name of [...STEPS.map((s) => `${s}_ms`), "push_pull_ms", "removal_ms"]) {
      const v = line[name];
      assert.ok(typeof v === "number" && Number.isFinite(v) && v >= 0, `${name}: ${v}`);
    }
    // A simulated world tells no CPU time: its logs replay exactly (tests/sim/replay).
    const cpu = Object.keys(line).filter((k) => k.endsWith("_cpu_ms"));
    assert.equal(cpu, [], "no CPU time in a simulated world");
    // Both questions run together: the learning step lasts as long as the longer of the two.
    const learn = line.learn_ms as number;
    assert.is(learn, Math.max(line.push_pull_ms as number, line.removal_ms as number));
    // Both other members answered its push-pull; the last answer came no sooner than the first.
    assert.is(line.push_pull_answered, 2);
    assert.type(line.push_pull_last_ms, "number");
    assert.ok((line.push_pull_last_ms as number) >= (line.push_pull_ms as number));
    await sim.stop();
  } finally {
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  }
});

test.run();
