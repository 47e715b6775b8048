import type { UpgradeReport } from "../../daemon/service.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { renderTable, renderYaml } from "../format.ts";
import { parse, positionals, stateDirFrom } from "../usage.ts";
import { formatFrom } from "./cluster.ts";

/** `cohort upgrade status [-f table|json|yaml]`. */
export const upgradeStatusCommand: Command = {
  path: ["upgrade", "status"],
  summary: "Show the progress of a rolling upgrade",
  usage: `Usage: cohort upgrade status [-f table|json|yaml] [--state-dir DIR]

Shows the newest versions any member runs (the target), which members run them and which do
not yet (with what they lack), and since when; and each member whose last start was refused,
with the versions it tried and why (it still counts with the versions it last ran).

Options:
  -f, --format FORMAT   table (default), json or yaml
  --state-dir DIR       State directory of the local daemon
  -h, --help            Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, { format: { type: "string", short: "f" } });
    positionals(rest, []);
    const format = formatFrom(values.format);
    const r = await callDaemon<UpgradeReport>(stateDirFrom(values), "GET", "/core/1.0/upgrade");
    if (format === "json") deps.stdout.write(JSON.stringify(r, null, 2) + "\n");
    else if (format === "yaml") deps.stdout.write(renderYaml(r));
    else {
      const t = r.target;
      deps.stdout.write(
        `Target: internal schema ${t.schema_internal}, app schema ${t.schema_external}, ${t.extensions} extensions (since ${r.since})\n` +
          `${r.complete ? "Complete" : `${r.pending.length} pending`}${
            r.waiting_since ? `; this member waits since ${r.waiting_since}` : ""
          }\n\n` +
          renderTable(["MEMBER", "STATE", "LACKS"], [
            ...r.done.map((n) => [n, "done", ""]),
            ...r.pending.map((p) => [p.name, "pending", p.lacks]),
          ]) +
          (r.refused ?? []).map((f) => `\n${f.name}: ${f.summary}\n`).join(""),
      );
    }
    return 0;
  },
};
