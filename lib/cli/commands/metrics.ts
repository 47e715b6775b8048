import { statePaths } from "../../daemon/state_dir.ts";
import { requestJson } from "../../net/client.ts";
import type { Command } from "../command.ts";
import { DaemonError } from "../daemon_client.ts";
import { parse, positionals, stateDirFrom } from "../usage.ts";

/** `cohort metrics`: prints the local member's metrics in the Prometheus text format. */
export const metricsCommand: Command = {
  path: ["metrics"],
  summary: "Print the member's metrics (Prometheus text format)",
  usage: `Usage: cohort metrics [--state-dir DIR]

Prints the local member's metrics in the Prometheus text exposition format, as
GET /core/1.0/metrics serves them: members by status and role, this member's phase, each
member's versions and verdict, gossip traffic and health, HTTP latency, join and upgrade
durations, and the process's CPU, memory and event loop lag.

Options:
  --state-dir DIR   State directory of the local daemon
  -h, --help        Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, {});
    positionals(rest, []);
    const { status, body } = await requestJson({
      method: "GET",
      path: "/core/1.0/metrics",
      socketPath: statePaths(stateDirFrom(values)).socket,
    });
    if (status !== 200 || typeof body !== "string") {
      const error = (body as { error?: string } | null)?.error;
      throw new DaemonError(status, error || `Request failed with HTTP ${status}`);
    }
    deps.stdout.write(body);
    return 0;
  },
};
