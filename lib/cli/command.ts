/**
 * What a CLI command is, and what it gets to run with.
 *
 * @module
 */
import type { Writable } from "node:stream";
import type { StopOutcome } from "../daemon/stop_outcome.ts";

/** A running daemon as the `daemon` command sees it (a `Daemon` is one). */
export interface RunningDaemon {
  /**
   * Resolves once the daemon has stopped (shutdown request, signal or fatal fault). To a
   * {@link StopOutcome} not `stored`, the command exits 1; `void` (a daemon of the app's own
   * making that does not tell) counts as stored.
   */
  closed: Promise<StopOutcome | void>;
  /** Stops the daemon gracefully. */
  stop(): Promise<unknown>;
}

/** Options of `cohort daemon`, as parsed from flags (or given by an embedding app in code). */
export interface DaemonCommandOptions {
  stateDir: string;
  /** App API extensions, in order. */
  extensions: string[];
  /** Folder of the app's drizzle-kit migrations. */
  appMigrations?: string;
  /** The app's version string. */
  appVersion?: string;
  /** libSQL URL overriding the state directory's `file:` database. */
  databaseUrl?: string;
  /** Gossip timing preset. */
  gossipPreset?: "lan" | "local";
  /** Restart gating policy. */
  upgradePolicy?: "strict" | "mixed";
  /** Down members stop blocking an upgrade after this long, in ms (0 = never). */
  upgradeDeadGraceMs?: number;
  /** Serve the metrics over plain HTTP here (`host:port`, or a port on loopback). */
  metricsAddress?: string;
}

/** What the CLI needs from the outside: `mod.ts` assembles daemons, the CLI only runs them. */
export interface CliDeps {
  startDaemon(options: DaemonCommandOptions): Promise<RunningDaemon>;
  stdout: Writable;
  stderr: Writable;
}

/** One subcommand. */
export interface Command {
  /** Words that select it, e.g. `["cluster", "list"]`. */
  path: string[];
  /** One-line description for the command list. */
  summary: string;
  /** Full `--help` text. */
  usage: string;
  /** Runs the command with the arguments after its path; resolves to the exit code. */
  run(argv: string[], deps: CliDeps): Promise<number>;
}
