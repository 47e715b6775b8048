import { readFileSync } from "node:fs";
import process from "node:process";
import type { ServerInfo } from "../../daemon/service.ts";
import { JOIN_DEADLINE_MS } from "../../daemon/join.ts";
import { advertisedAddressProblem, memberNameProblem } from "../../cluster/address.ts";
import type { Command } from "../command.ts";
import { callDaemon } from "../daemon_client.ts";
import { readStdin } from "../input.ts";
import { parse, positionals, stateDirFrom, UsageError } from "../usage.ts";

/**
 * The longest join token, in characters: the API's (`join_token` of `POST /core/control`, which
 * answers 400 past it; tests/cli/flag_values checks they agree), checked here so the user reads
 * where the token came from, not the daemon's field.
 */
export const JOIN_TOKEN_MAX_CHARS = 65_536;

/** The environment variable `init` reads a join token from. */
export const TOKEN_ENV = "COHORT_JOIN_TOKEN";

/**
 * How long `init --token` waits for the daemon's answer, ms: the join's own deadline, which
 * bounds every wait for another member, and time for the steps on this machine after the
 * admission (the network start, the preJoin hook, the writes).
 */
export const JOIN_WAIT_MS = JOIN_DEADLINE_MS + 15_000;
const DEADLINE_S = JOIN_DEADLINE_MS / 1000;

/** Reads a whole file (named pipes too: the read waits for their writer) as text. */
function readAll(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).message;
    throw new UsageError(`Cannot read the join token from ${what}: ${code}`);
  }
}

/**
 * The join token from the first source given: `--token -` (standard input), `--token-file
 * PATH`, `--token TOKEN`, then the environment variable {@link TOKEN_ENV}. Surrounding
 * whitespace (a file's final newline) is dropped. `undefined` when no source gives one.
 */
async function joinToken(
  values: { token?: string; "token-file"?: string },
): Promise<string | undefined> {
  if (values.token !== undefined && values["token-file"] !== undefined) {
    throw new UsageError("Give the token once: --token or --token-file, not both");
  }
  let token: string | undefined;
  let from = "";
  if (values.token === "-") {
    [token, from] = [await readStdin("the join token"), "standard input"];
  } else if (values["token-file"] !== undefined) {
    const path = values["token-file"];
    if (path === "") throw new UsageError("--token-file must not be empty");
    [token, from] = [readAll(path, `"${path}"`), `"${path}"`];
  } else if (values.token !== undefined) [token, from] = [values.token, "--token"];
  else if (process.env[TOKEN_ENV] !== undefined) {
    [token, from] = [process.env[TOKEN_ENV], TOKEN_ENV];
  }
  if (token === undefined) return undefined;
  token = token.trim();
  if (token === "") throw new UsageError(`The join token from ${from} is empty`);
  if (token.length > JOIN_TOKEN_MAX_CHARS) {
    throw new UsageError(
      `The join token from ${from} must be at most ${JOIN_TOKEN_MAX_CHARS} characters, ` +
        `got ${token.length}`,
    );
  }
  return token;
}

/** `cohort init NAME ADDRESS --bootstrap | --token TOKEN | --token - | --token-file PATH`. */
export const initCommand: Command = {
  path: ["init"],
  summary: "Bootstrap a new cluster or join one with a token",
  usage:
    `Usage: cohort init NAME ADDRESS (--bootstrap | --token TOKEN | --token - | --token-file PATH)
       [--state-dir DIR]

Initialises the local daemon as member NAME serving on ADDRESS (host:port): either as the
first member of a new cluster (--bootstrap) or by joining an existing one with a join token.
ADDRESS is the address other members dial: not 0.0.0.0, ::, a multicast address or port 0.
The member keeps it in one spelling (IPv6 as "[::1]:9000", lower case); IPv4 is four numbers
without leading zeros, and IPv4-mapped IPv6 addresses and zone indexes are refused.

A token given as --token TOKEN is visible to every user of the machine (ps, /proc) while the
command runs: prefer --token - (standard input), --token-file PATH, or the environment variable
${TOKEN_ENV}, which is read when no --token or --token-file is given.

A join waits for other members ${DEADLINE_S} s at most, in all: the join request to each of
the token's addresses in turn, then, for a join cut short, asking to be taken out again. Past
it the command fails (exit code 1) naming each member asked and what it did, and the daemon is
left uninitialised: run init again with a fresh token.

Options:
  --bootstrap          Create a new cluster with this member as its first member
  --token TOKEN        Join the cluster that issued TOKEN ("-": read it from standard input)
  --token-file PATH    Join with the token read from PATH (surrounding whitespace dropped)
  --state-dir DIR      State directory of the local daemon
  -h, --help           Show this help
`,
  async run(argv, deps) {
    const { values, positionals: rest } = parse(argv, {
      bootstrap: { type: "boolean", default: false },
      token: { type: "string" },
      "token-file": { type: "string" },
    });
    const [name, address] = positionals(rest, ["NAME", "ADDRESS"]);
    const nameProblem = memberNameProblem(name);
    if (nameProblem) throw new UsageError(`Invalid NAME "${name}": ${nameProblem}`);
    const addrProblem = advertisedAddressProblem(address);
    if (addrProblem) throw new UsageError(`Invalid ADDRESS "${address}": ${addrProblem}`);
    const flagged = values.token !== undefined || values["token-file"] !== undefined;
    if (values.bootstrap && flagged) {
      throw new UsageError("Give exactly one of --bootstrap or --token (or --token-file)");
    }
    // The environment is ambient: it never turns a bootstrap into a join.
    const token = values.bootstrap ? undefined : await joinToken(values);
    if (!values.bootstrap && token === undefined) {
      throw new UsageError(
        `Give exactly one of --bootstrap or --token (or --token-file, or ${TOKEN_ENV})`,
      );
    }
    const body = values.bootstrap
      ? { bootstrap: true, name, address }
      : { bootstrap: false, name, address, join_token: token };
    const info = await callDaemon<ServerInfo>(
      stateDirFrom(values),
      "POST",
      "/core/control",
      body,
      values.bootstrap ? undefined : JOIN_WAIT_MS,
    );
    deps.stdout.write(
      `${
        values.bootstrap ? "Bootstrapped" : "Joined"
      } cohort member "${info.name}" at ${info.address}\n`,
    );
    return 0;
  },
};
