import type { ClusterMemberEntry } from "../../daemon/service.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { type Format, FORMATS, renderList } from "../format.ts";
import { choiceFlag } from "../flag_values.ts";
import { parse, positionals, stateDirFrom } from "../usage.ts";

/** Parses `-f/--format` (default `table`). */
export function formatFrom(value: string | undefined): Format {
  return choiceFlag("format", value, FORMATS, "table");
}

/** `cohort cluster list [-f table|json|yaml]`. */
export const clusterListCommand: Command = {
  path: ["cluster", "list"],
  summary: "List the cluster's members",
  usage: `Usage: cohort cluster list [-f table|json|yaml] [--state-dir DIR]

Lists the cluster's members as the local member sees them: name, address, role, schema
versions, API extensions and status; under the table, each member whose last start was
refused, with the versions it tried and why.

Options:
  -f, --format FORMAT   table (default), json or yaml
  --state-dir DIR       State directory of the local daemon
  -h, --help            Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, {
      format: { type: "string", short: "f" },
    });
    positionals(rest, []);
    const format = formatFrom(values.format);
    const members = await callDaemon<ClusterMemberEntry[]>(
      stateDirFrom(values),
      "GET",
      "/core/1.0/cluster",
    );
    deps.stdout.write(renderList(
      format,
      members,
      ["NAME", "ADDRESS", "ROLE", "SCHEMA", "EXTENSIONS", "STATUS"],
      (m) => [
        m.name,
        m.address,
        m.role,
        `${m.schema_internal_version}/${m.schema_external_version}`,
        m.extensions.length,
        m.status,
      ],
    ));
    if (format === "table") {
      // A refused start changed nothing above; say why it was refused, under the table.
      for (const m of members) {
        if (m.start_refused) deps.stdout.write(`\n${m.name}: ${m.start_refused.summary}\n`);
      }
    }
    return 0;
  },
};

/** `cohort cluster remove NAME [--force]`. */
export const clusterRemoveCommand: Command = {
  path: ["cluster", "remove"],
  summary: "Remove a member from the cluster",
  usage: `Usage: cohort cluster remove NAME [--force] [--state-dir DIR]

Removes member NAME from the cluster (run it on any member). The departing member runs its
pre-remove hook, leaves gossip gracefully and resets to an uninitialised daemon; the others run
their post-remove hook and stop trusting its certificate.

Options:
  -f, --force       Remove the member even when it cannot be reached
  --state-dir DIR   State directory of the local daemon
  -h, --help        Show this help
`,
  async run(argv) {
    const { values, positionals: rest } = parse(argv, { force: { type: "boolean", short: "f" } });
    const [name] = positionals(rest, ["NAME"]);
    const query = values.force ? "?force=1" : "";
    await callDaemon(
      stateDirFrom(values),
      "DELETE",
      `/core/1.0/cluster/${encodeURIComponent(name)}${query}`,
    );
    return 0;
  },
};
