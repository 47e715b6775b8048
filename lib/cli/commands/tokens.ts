import { memberNameProblem } from "../../cluster/address.ts";
import { parseDuration } from "../../cluster/token.ts";
import type { TokenInfo } from "../../daemon/service.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { renderList } from "../format.ts";
import { parse, positionals, stateDirFrom, UsageError } from "../usage.ts";
import { formatFrom } from "./cluster.ts";

function nameArg(rest: string[]): string {
  const [name] = positionals(rest, ["NAME"]);
  const problem = memberNameProblem(name);
  if (problem) throw new UsageError(`Invalid NAME "${name}": ${problem}`);
  return name;
}

/** `cohort tokens add NAME [--expire-after DURATION]`. */
export const tokensAddCommand: Command = {
  path: ["tokens", "add"],
  summary: "Issue a join token for a new member",
  usage: `Usage: cohort tokens add NAME [--expire-after DURATION] [--state-dir DIR]

Issues a single-use join token for the member that will join as NAME and prints it. Only a hash
of its secret is kept, so the token cannot be shown again. Any member accepts it.

Options:
  -e, --expire-after D   Validity, e.g. 30m, 3h, 1h30m, 2d (default 3h; 0 = never expires)
  --state-dir DIR        State directory of the local daemon
  -h, --help             Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, {
      "expire-after": { type: "string", short: "e" },
    });
    const name = nameArg(rest);
    let ms: number;
    try {
      ms = parseDuration(values["expire-after"] ?? "3h", "--expire-after");
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const token = await callDaemon<string>(stateDirFrom(values), "POST", "/core/control/tokens", {
      name,
      expire_after: ms * 1e6,
    });
    deps.stdout.write(`${token}\n`);
    return 0;
  },
};

/** `cohort tokens list [-f table|json|yaml]`. */
export const tokensListCommand: Command = {
  path: ["tokens", "list"],
  summary: "List unused, unexpired join tokens",
  usage: `Usage: cohort tokens list [-f table|json|yaml] [--state-dir DIR]

Lists the join tokens that can still be used: the member name each admits and its expiry.

Options:
  -f, --format FORMAT   table (default), json or yaml
  --state-dir DIR       State directory of the local daemon
  -h, --help            Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, { format: { type: "string", short: "f" } });
    positionals(rest, []);
    const format = formatFrom(values.format);
    const tokens = await callDaemon<TokenInfo[]>(
      stateDirFrom(values),
      "GET",
      "/core/control/tokens",
    );
    deps.stdout.write(
      renderList(format, tokens, ["NAME", "EXPIRES AT"], (t) => [t.name, t.expires_at ?? "never"]),
    );
    return 0;
  },
};

/** `cohort tokens revoke NAME`. */
export const tokensRevokeCommand: Command = {
  path: ["tokens", "revoke"],
  summary: "Revoke the join token issued for a name",
  usage: `Usage: cohort tokens revoke NAME [--state-dir DIR]

Revokes the join token issued for NAME on every member.

Options:
  --state-dir DIR   State directory of the local daemon
  -h, --help        Show this help
`,
  async run(argv) {
    const { values, positionals: rest } = parse(argv, {});
    const name = nameArg(rest);
    await callDaemon(
      stateDirFrom(values),
      "DELETE",
      `/core/control/tokens/${encodeURIComponent(name)}`,
    );
    return 0;
  },
};
