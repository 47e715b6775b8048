/**
 * The notes daemon's command line: `notes --state-dir DIR [--gossip-preset lan|local]`. Everything
 * else (init, tokens, cluster list, upgrade status, shutdown) is cohort's own command line run
 * against the same state directory: `npx cohort init n1 127.0.0.1:9001 --bootstrap --state-dir DIR`.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { startNotes } from "./app.ts";
import type { Release } from "./releases.ts";

const USAGE = "Usage: notes --state-dir DIR [--gossip-preset lan|local]";

/** Runs a notes daemon of `release` until it is shut down or signalled; resolves to the exit code. */
export async function main(release: Release, argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "state-dir": { type: "string" },
        "gossip-preset": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\nnotes ${release.appVersion}\n`);
    return 0;
  }
  const preset = values["gossip-preset"] ?? "lan";
  if (!values["state-dir"] || (preset !== "lan" && preset !== "local")) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let member;
  try {
    member = await startNotes(release, { stateDir: values["state-dir"], gossipPreset: preset });
  } catch (err) {
    // cohort's errors say what is wrong (a locked state directory, a refused upgrade, …).
    process.stderr.write(`notes: ${(err as Error).message}\n`);
    return 1;
  }
  const stop = () => void member.stop();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  await member.closed;
  return 0;
}
