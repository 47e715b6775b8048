import type { Command } from "../command.ts";
import { callDaemon, DaemonError, isUnreachable } from "../daemon_client.ts";
import { secondsFlag } from "../flag_values.ts";
import { parse, positionals, stateDirFrom } from "../usage.ts";

/** How often `waitready` asks, in ms. */
const POLL_MS = 100;

/** `--timeout`'s bounds: a day at most (longer: wait forever, with 0). */
export const WAITREADY_TIMEOUT_BOUNDS = { min: 0.001, max: 86_400, zero: "wait forever" } as const;

/** `cohort waitready [--timeout S]`. */
export const waitreadyCommand: Command = {
  path: ["waitready"],
  summary: "Wait until the local member is ready",
  usage: `Usage: cohort waitready [--timeout S] [--state-dir DIR]

Waits until the local daemon answers GET /core/1.0/ready, also while it is not running yet.
As with MicroCluster, a daemon is ready once it has started, initialised or not (so a script
runs waitready before init); an initialised member once it has rejoined its cluster and is not
waiting for other members to upgrade. Exit code 0 once ready, 1 on timeout.

Options:
  -t, --timeout S   Give up after S seconds, ${WAITREADY_TIMEOUT_BOUNDS.min} to ${WAITREADY_TIMEOUT_BOUNDS.max} (default 0: wait forever)
  --state-dir DIR   State directory of the local daemon
  -h, --help        Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, {
      timeout: { type: "string", short: "t" },
    });
    positionals(rest, []);
    const timeout = secondsFlag("timeout", values.timeout, 0, WAITREADY_TIMEOUT_BOUNDS);
    const stateDir = stateDirFrom(values);
    // On the monotonic clock: a wall clock stepped forwards (NTP, a VM resumed) gave up at once.
    const deadline = timeout > 0 ? performance.now() + timeout * 1000 : Infinity;
    let last: string;
    for (;;) {
      // The verdict rests on a question asked once the deadline passed: a command held past it
      // (stopped and continued, a paused VM, a starved machine) judged on its answer from
      // before the hold, though the daemon had become ready meanwhile.
      const asked = performance.now();
      try {
        await callDaemon(stateDir, "GET", "/core/1.0/ready", undefined, 5000);
        return 0;
      } catch (err) {
        // Not running yet and not ready yet both mean: ask again.
        if (!(err instanceof DaemonError) && !isUnreachable(err)) throw err;
        last = (err as Error).message;
      }
      if (asked >= deadline) break;
      // A plain timer: `node:timers/promises` would be one more module for every command to load.
      await new Promise((r) => setTimeout(r, Math.min(POLL_MS, deadline - performance.now())));
    }
    deps.stderr.write(`Error: the daemon was not ready after ${timeout} s: ${last}\n`);
    return 1;
  },
};
