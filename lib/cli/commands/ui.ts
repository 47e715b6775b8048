import process from "node:process";
import type { ServerInfo } from "../../daemon/service.ts";
import { statePaths } from "../../daemon/state_dir.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { parse, positionals, stateDirFrom, UsageError } from "../usage.ts";

/** `cohort ui [--listen HOST:PORT]`: serves the status page until interrupted. */
export const uiCommand: Command = {
  path: ["ui"],
  summary: "Serve a live status page of the cluster on a local port",
  usage: `Usage: cohort ui [--listen [HOST:]PORT] [--state-dir DIR]

Serves a status page for a browser on a loopback port, backed by the local member's control
socket (no certificate and no network listener needed). It shows the members (status, role,
versions, last heard), the extension matrix with the extensions every member shares, the
upgrade's progress and refused attempts, and the recent events, updated live as the member's
view changes. It prints the page's address and runs until interrupted (Ctrl-C).

Options:
  --listen ADDR     Where to listen: a loopback HOST:PORT or a PORT on 127.0.0.1
                    (default 127.0.0.1:0, a free port); for another machine, use an SSH
                    tunnel
  --state-dir DIR   State directory of the local daemon
  -h, --help        Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, { listen: { type: "string" } });
    positionals(rest, []);
    const listen = values.listen ?? "127.0.0.1:0";
    // Loaded here: the page's server (and its files beside it) is no cost of the other commands.
    const { parseListen, serveUi } = await import("../../ui/server.ts");
    try {
      parseListen(listen);
    } catch (err) {
      throw new UsageError(`--listen: ${(err as Error).message}`);
    }
    const stateDir = stateDirFrom(values);
    // Fails with the usual message when no daemon runs there.
    const info = await callDaemon<ServerInfo>(stateDir, "GET", "/core/1.0");
    const ui = await serveUi({ socketPath: statePaths(stateDir).socket, listen });
    deps.stdout.write(`Status page of member "${info.name}": ${ui.url}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        resolve();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    await ui.close();
    return 0;
  },
};
