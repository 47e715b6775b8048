import { lockHolder, statePaths } from "../../daemon/state_dir.ts";
import type { StopOutcome } from "../../daemon/stop_outcome.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { secondsFlag } from "../flag_values.ts";
import { parse, positionals, stateDirFrom } from "../usage.ts";

/**
 * `--timeout`'s bounds: a day at most, a stop's wait with room to spare (`--timeout 1e308` gave
 * up within 0.1 s, the daemon still running: its timer, past a runtime timer's reach, fired at
 * once; tests/net/late_deadline_far).
 */
export const SHUTDOWN_TIMEOUT_BOUNDS = { min: 0.001, max: 86_400 } as const;

/** `cohort shutdown`. */
export const shutdownCommand: Command = {
  path: ["shutdown"],
  summary: "Stop the local daemon",
  usage: `Usage: cohort shutdown [--timeout S] [--state-dir DIR]

Asks the local daemon to stop and waits until it has released its control socket. Exits 1
when the daemon stopped without storing what it had to (a full, read-only or failing disk),
saying why, as the daemon's own exit status does.

Options:
  -t, --timeout S   Give up waiting after S seconds, ${SHUTDOWN_TIMEOUT_BOUNDS.min} to ${SHUTDOWN_TIMEOUT_BOUNDS.max} (default 30)
  --state-dir DIR   State directory of the local daemon
  -h, --help        Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, {
      timeout: { type: "string", short: "t" },
    });
    positionals(rest, []);
    const timeout = secondsFlag("timeout", values.timeout, 30, SHUTDOWN_TIMEOUT_BOUNDS);
    const stateDir = stateDirFrom(values);
    // On the monotonic clock, as every wait of cohort's: a step of the wall clock moves no deadline.
    const deadline = performance.now() + timeout * 1000;
    // Answered once the stop has written what it had to: a stop on a read-only disk was reported
    // as clean. A daemon of an earlier release answers null at once (no report to give).
    const outcome = await callDaemon<StopOutcome | null>(
      stateDir,
      "POST",
      "/core/control/shutdown?wait=1",
      undefined,
      timeout * 1000,
    );
    const paths = statePaths(stateDir);
    // Its lock names it until it is gone: a daemon whose disk turned read-only cannot remove the
    // lock, and its stop was reported as not done within the timeout.
    while (lockHolder(paths) !== undefined) {
      if (performance.now() > deadline) {
        deps.stderr.write(`Error: the daemon did not stop within ${timeout} s\n`);
        return 1;
      }
      // A plain timer: `node:timers/promises` would be one more module for every command to load.
      await new Promise((r) => setTimeout(r, 50));
    }
    if (outcome?.stored === false) {
      deps.stderr.write(
        `Error: the daemon stopped without storing what it had to: ${outcome.problem}\n`,
      );
      return 1;
    }
    return 0;
  },
};
