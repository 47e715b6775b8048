import type { ServerInfo } from "../../daemon/service.ts";
import { advertisedAddressProblem, memberNameProblem } from "../../cluster/address.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { parse, positionals, stateDirFrom, UsageError } from "../usage.ts";

/** `cohort init NAME ADDRESS --bootstrap | --token TOKEN`. */
export const initCommand: Command = {
  path: ["init"],
  summary: "Bootstrap a new cluster or join one with a token",
  usage: `Usage: cohort init NAME ADDRESS (--bootstrap | --token TOKEN) [--state-dir DIR]

Initialises the local daemon as member NAME serving on ADDRESS (host:port): either as the
first member of a new cluster (--bootstrap) or by joining an existing one with a join token.

Options:
  --bootstrap        Create a new cluster with this member as its first member
  --token TOKEN      Join the cluster that issued TOKEN
  --state-dir DIR    State directory of the local daemon
  -h, --help         Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, {
      bootstrap: { type: "boolean", default: false },
      token: { type: "string" },
    });
    const [name, address] = positionals(rest, ["NAME", "ADDRESS"]);
    const nameProblem = memberNameProblem(name);
    if (nameProblem) throw new UsageError(`Invalid NAME "${name}": ${nameProblem}`);
    const addrProblem = advertisedAddressProblem(address);
    if (addrProblem) throw new UsageError(`Invalid ADDRESS "${address}": ${addrProblem}`);
    if (values.bootstrap === (values.token !== undefined)) {
      throw new UsageError("Give exactly one of --bootstrap or --token");
    }
    const body = values.bootstrap
      ? { bootstrap: true, name, address }
      : { bootstrap: false, name, address, join_token: values.token };
    const info = await callDaemon<ServerInfo>(stateDirFrom(values), "POST", "/core/control", body);
    deps.stdout.write(
      `${
        values.bootstrap ? "Bootstrapped" : "Joined"
      } cohort member "${info.name}" at ${info.address}\n`,
    );
    return 0;
  },
};
