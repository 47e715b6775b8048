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
import { shutdownCommand } from "./commands/shutdown.ts";
import { sqlCommand } from "./commands/sql.ts";
import { waitreadyCommand } from "./commands/waitready.ts";
import { DaemonError } from "./daemon_client.ts";
import { UsageError } from "./usage.ts";

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
  sqlCommand,
  waitreadyCommand,
  shutdownCommand,
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.path.join(" ").length));
  const lines = COMMANDS.map((c) => `  ${c.path.join(" ").padEnd(width)}  ${c.summary}`);
  return `Usage: cohort COMMAND [options]

Leaderless clustering: members, join tokens, API extensions and schema versions.

Commands:
${lines.join("\n")}

Every command accepts --state-dir DIR and --help.
`;
}

function find(argv: string[]): { command?: Command; rest: string[]; prefix: string[] } {
  for (const command of COMMANDS) {
    if (command.path.every((word, i) => argv[i] === word)) {
      return { command, rest: argv.slice(command.path.length), prefix: command.path };
    }
  }
  const prefix = argv[0] && COMMANDS.some((c) => c.path[0] === argv[0] && c.path.length > 1)
    ? [argv[0]]
    : [];
  return { rest: argv, prefix };
}

/** Runs the CLI with `argv` (arguments after the program name) and returns the exit code. */
export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    (argv.length === 0 ? deps.stderr : deps.stdout).write(overview());
    return argv.length === 0 ? 2 : 0;
  }
  const { command, rest, prefix } = find(argv);
  if (!command) {
    const what = prefix.length ? `${prefix[0]} ${argv[1] ?? ""}`.trim() : argv[0];
    deps.stderr.write(`Error: unknown command "${what}"\n\n${overview()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
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
