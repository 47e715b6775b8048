/**
 * Help texts built from the command list: the overview (`cohort --help`) and the usage of a
 * command group (`cohort cluster --help`), so a new command appears in both by being listed.
 *
 * @module
 */
import type { Command } from "./command.ts";

function table(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.path.join(" ").length));
  return commands.map((c) => `  ${c.path.join(" ").padEnd(width)}  ${c.summary}`).join("\n");
}

/** The words that start more than a single command (`cluster`, `tokens`, …), in help order. */
export function groupsOf(commands: readonly Command[]): string[] {
  return [...new Set(commands.filter((c) => c.path.length > 1).map((c) => c.path[0]))];
}

/** The commands of `group`, or an empty list when `group` is not a group. */
export function groupCommands(commands: readonly Command[], group: string): Command[] {
  return commands.filter((c) => c.path.length > 1 && c.path[0] === group);
}

/** `cohort --help`: every command with its summary. */
export function overview(commands: readonly Command[]): string {
  return `Usage: cohort COMMAND [options]

Leaderless clustering: members, join tokens, API extensions and schema versions.

Commands:
${table(commands)}

Every command accepts --state-dir DIR and --help; \`cohort GROUP --help\` lists a group's
commands. \`cohort --version\` (or -V) prints cohort's version.
`;
}

/** `cohort GROUP --help`: the group's commands with their summaries. */
export function groupUsage(commands: readonly Command[], group: string): string {
  return `Usage: cohort ${group} COMMAND [options]

Commands:
${table(groupCommands(commands, group))}

Run \`cohort ${group} COMMAND --help\` for a command's options.
`;
}
