/**
 * Argument parsing shared by every command: `node:util` parseArgs (identical in Node and Deno)
 * with usage errors turned into {@link UsageError} (exit code 2).
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** A command-line mistake: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  "state-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The result of {@link parse}: typed flag values and the positionals. */
export type ParsedArgs<O extends NonNullable<ParseArgsConfig["options"]>> = ReturnType<
  typeof parseArgs<
    { args: string[]; options: typeof COMMON_OPTIONS & O; allowPositionals: true; strict: true }
  >
>;

/**
 * Parses `argv` with `options` (plus the common ones) or throws a {@link UsageError}, also for a
 * flag with a value given more than once: `parseArgs` keeps the last, so `--timeout 5 --timeout
 * 1000` ran with 1000 whatever the script meant.
 */
export function parse<O extends NonNullable<ParseArgsConfig["options"]>>(
  argv: string[],
  options: O,
): ParsedArgs<O> {
  const all = { ...COMMON_OPTIONS, ...options };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: all,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
  const given = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== "option" || token.value === undefined) continue;
    if ((all as ParseArgsConfig["options"])?.[token.name]?.multiple) continue;
    if (given.has(token.name)) {
      throw new UsageError(`--${token.name} is given more than once: give it once`);
    }
    given.add(token.name);
  }
  const { tokens: _, ...result } = parsed;
  return result as ParsedArgs<O>;
}

/**
 * The state directory: `--state-dir`, else `COHORT_STATE_DIR`, else
 * `$XDG_STATE_HOME/cohort` (default `~/.local/state/cohort`).
 */
export function stateDirFrom(values: { "state-dir"?: string }): string {
  if (values["state-dir"] !== undefined) {
    if (values["state-dir"] === "") throw new UsageError("--state-dir must not be empty");
    return values["state-dir"];
  }
  if (process.env.COHORT_STATE_DIR) return process.env.COHORT_STATE_DIR;
  const base = process.env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(base, "cohort");
}

/** Requires exactly `names.length` positionals, naming the missing or extra ones. */
export function positionals(given: string[], names: string[]): string[] {
  if (given.length < names.length) {
    throw new UsageError(`Missing argument: ${names.slice(given.length).join(" ")}`);
  }
  if (given.length > names.length) {
    throw new UsageError(`Unexpected argument: "${given[names.length]}"`);
  }
  return given;
}
