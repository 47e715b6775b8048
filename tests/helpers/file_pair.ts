/**
 * Two whole members on the simulated clock with file stores, for the tests that restart one:
 * q1 bootstrapped and q2 joined through it, both started with the same extensions.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import type { Logger } from "../../lib/log.ts";
import { memberAddress, type MemoryCluster } from "./memory_member.ts";

/** What `MemoryCluster.start` takes besides the name, the state directory and the extensions. */
type StartOptions = NonNullable<Parameters<MemoryCluster["start"]>[1]>;

/** A formed pair; see {@link filePair}. */
export interface FilePair {
  q1: Daemon;
  q2: Daemon;
  /** Starts member `i` (0: q1, 1: q2) again on its state directory with `extensions`. */
  start(i: number, extensions: string[], options?: StartOptions, logger?: Logger): Promise<Daemon>;
  /** Stops `d`, driving the clock meanwhile. */
  stop(d: Daemon): Promise<unknown>;
  /** Removes the state directories. */
  close(): void;
}

/**
 * Forms q1 and q2 on `sim`, each with a file store in a directory of its own, both running
 * `extensions`, and runs the cluster 3 s; the directories are removed if forming fails.
 */
export async function filePair(sim: MemoryCluster, extensions: string[]): Promise<FilePair> {
  const dirs = ["q1", "q2"].map((n) => mkdtempSync(join(tmpdir(), `cohort-pair-${n}-`)));
  const start = (i: number, list: string[], options: StartOptions = {}, logger?: Logger) =>
    sim.start(
      `q${i + 1}`,
      { stateDir: dirs[i], databaseUrl: undefined, extensions: list, ...options },
      logger,
    );
  const stop = (d: Daemon) => sim.drive(d.stop());
  const close = () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  try {
    const q1 = await start(0, extensions);
    const q2 = await start(1, extensions);
    await sim.drive(q1.initialize({ bootstrap: true, name: "q1", address: memberAddress(1) }));
    const token = await sim.drive(q1.createToken("q2", 0));
    await sim.drive(
      q2.initialize({ bootstrap: false, name: "q2", address: memberAddress(2), join_token: token }),
    );
    await sim.run(3000);
    return { q1, q2, start, stop, close };
  } catch (err) {
    close();
    throw err;
  }
}
