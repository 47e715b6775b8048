/**
 * The `cohort` command line, modelled on MicroCluster's `microctl`. Exit codes: 0 success,
 * 1 failure, 2 usage error. Command output goes to stdout, errors to stderr.
 *
 * @module
 */
import { isCohortError } from "../errors.ts";
import type { CliDeps, Command } from "./command.ts";
import { appVersionCommand } from "./commands/app_version.ts";
import { clusterListCommand, clusterRemoveCommand } from "./commands/cluster.ts";
import { upgradeStatusCommand } from "./commands/upgrade.ts";
import { tokensAddCommand, tokensListCommand, tokensRevokeCommand } from "./commands/tokens.ts";
import { daemonCommand } from "./commands/daemon.ts";
import { initCommand } from "./commands/init.ts";
import { metricsCommand } from "./commands/metrics.ts";
import { shutdownCommand } from "./commands/shutdown.ts";
import { uiCommand } from "./commands/ui.ts";
import { sqlCommand } from "./commands/sql.ts";
import { waitreadyCommand } from "./commands/waitready.ts";
import { DaemonError } from "./daemon_client.ts";
import { groupsOf, groupUsage, overview } from "./help.ts";
import { UsageError } from "./usage.ts";
import { VERSION } from "../version.ts";

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [
  daemonCommand,
  initCommand,
  clusterListCommand,
  clusterRemoveCommand,
  tokensAddCommand,
  tokensListCommand,
  tokensRevokeCommand,
  upgradeStatusCommand,
  appVersionCommand,
  metricsCommand,
  uiCommand,
  sqlCommand,
  waitreadyCommand,
  shutdownCommand,
];

function find(argv: string[]): { command?: Command; rest: string[]; group?: string } {
  for (const command of COMMANDS) {
    if (command.path.every((word, i) => argv[i] === word)) {
      return { command, rest: argv.slice(command.path.length) };
    }
  }
  const group = groupsOf(COMMANDS).find((g) => g === argv[0]);
  return { rest: argv.slice(group ? 1 : 0), group };
}

const isHelp = (arg: string | undefined) => arg === "--help" || arg === "-h";

/** `cohort help [COMMAND…]`: the overview, a group's usage or a command's usage. */
function help(asked: string[], deps: CliDeps): number {
  // `help --help` and `help tokens --help` ask for the same help as without the flag.
  const words = asked.filter((w) => !isHelp(w));
  if (words.length === 0) {
    deps.stdout.write(overview(COMMANDS));
    return 0;
  }
  const { command, rest, group } = find(words);
  if (command && rest.length === 0) deps.stdout.write(command.usage);
  else if (group && rest.length === 0) deps.stdout.write(groupUsage(COMMANDS, group));
  else return unknown(words.join(" "), group, deps);
  return 0;
}

function unknown(what: string, group: string | undefined, deps: CliDeps): number {
  deps.stderr.write(
    `Error: unknown command "${what}"\n\n${
      group ? groupUsage(COMMANDS, group) : overview(COMMANDS)
    }`,
  );
  return 2;
}

/** Runs the CLI with `argv` (arguments after the program name) and returns the exit code. */
export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  if (argv.length === 0) {
    deps.stderr.write(overview(COMMANDS));
    return 2;
  }
  if (argv[0] === "--version" || argv[0] === "-V") {
    deps.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (isHelp(argv[0])) return help([], deps);
  if (argv[0] === "help") return help(argv.slice(1), deps);
  const { command, rest, group } = find(argv);
  if (!command) {
    if (!group) return unknown(argv[0], undefined, deps);
    if (rest.some(isHelp)) return help([group], deps);
    if (rest.length === 0 || rest[0].startsWith("-")) {
      deps.stderr.write(
        `Error: missing command after "${group}"\n\n${groupUsage(COMMANDS, group)}`,
      );
      return 2;
    }
    return unknown(`${group} ${rest[0]}`, group, deps);
  }
  if (rest.some(isHelp)) {
    deps.stdout.write(command.usage);
    return 0;
  }
  try {
    return await command.run(rest, deps);
  } catch (err) {
    if (err instanceof UsageError) {
      deps.stderr.write(`Error: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    // A bad flag value found by the daemon's own validation is still a usage error.
    if (isCohortError(err) && err.code === "E_INVALID") {
      deps.stderr.write(`Error: ${err.message}\n`);
      return 2;
    }
    if (err instanceof DaemonError || isCohortError(err)) {
      deps.stderr.write(`Error: ${err.message}\n`);
      return 1;
    }
    deps.stderr.write(`Error: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
}
