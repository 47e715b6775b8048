import { memberNameProblem } from "../../cluster/address.ts";
import type { TokenInfo } from "../../daemon/service.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { renderList } from "../format.ts";
import { durationFlag } from "../flag_values.ts";
import { parse, positionals, stateDirFrom, UsageError } from "../usage.ts";
import { formatFrom } from "./cluster.ts";

/**
 * `--expire-after`'s bounds: 100 years at most, the API's (`expire_after` of `POST
 * /core/control/tokens` answers 400 past it; tests/cli/flag_values checks they agree), checked
 * here so the user reads the rule in the flag's terms, not in nanoseconds.
 */
export const EXPIRE_AFTER_BOUNDS = {
  maxMs: 36_525 * 86_400_000,
  maxText: "36525d",
  zero: "never expires",
} as const;

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
  -e, --expire-after D   Validity, e.g. 30m, 3h, 1h30m, 2d: 1ms to ${EXPIRE_AFTER_BOUNDS.maxText}
                         (100 years; default 3h; 0 = never expires)
  --state-dir DIR        State directory of the local daemon
  -h, --help             Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, {
      "expire-after": { type: "string", short: "e" },
    });
    const name = nameArg(rest);
    const ms = durationFlag("expire-after", values["expire-after"], "3h", EXPIRE_AFTER_BOUNDS);
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
