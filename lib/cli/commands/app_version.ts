import { APP_VERSION_RULE, appVersionProblem } from "../../cluster/app_version.ts";
import type { ServerInfo } from "../../daemon/service.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { parse, positionals, stateDirFrom, UsageError } from "../usage.ts";

/** `cohort app-version VERSION`: changes the local member's app version without a restart. */
export const appVersionCommand: Command = {
  path: ["app-version"],
  summary: "Announce a new app version for the local member",
  usage: `Usage: cohort app-version VERSION [--state-dir DIR]

Sets the local member's app version without a restart, e.g. after a hot reload. GET /core/1.0
reports it at once and every member's cluster list within a gossip round trip. It lasts until
the daemon stops: the next start uses --app-version (default 0.0.0) again.

VERSION is ${APP_VERSION_RULE}.

Options:
  --state-dir DIR   State directory of the local daemon
  -h, --help        Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, {});
    const [version] = positionals(rest, ["VERSION"]);
    const problem = appVersionProblem(version);
    if (problem) throw new UsageError(`Invalid VERSION: ${problem}`);
    const info = await callDaemon<ServerInfo>(
      stateDirFrom(values),
      "PUT",
      "/core/control/app-version",
      { app_version: version },
    );
    deps.stdout.write(`App version of "${info.name}" is now "${info.version}"\n`);
    return 0;
  },
};
