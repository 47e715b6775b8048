/**
 * How a member's stop went, for whoever must tell it apart from a clean one: `cohort daemon`
 * exits 1 on it (a supervisor such as systemd recorded a stop on a read-only disk as clean, since
 * the process exited 0), `cohort shutdown` says it, and an app that embeds a member reads it from
 * `stop()` and `closed`.
 *
 * @module
 */
import { describeDiskFault, diskFault, isNoSpace } from "../errors.ts";
import type { Logger } from "../log.ts";

/** What a member's stop resolves to (`Daemon.stop()`, `Daemon.closed`). */
export interface StopOutcome {
  /**
   * `true` when the store took everything the member had to write before it stopped (or it had
   * nothing to write); `false` when a full, read-only or failing disk refused it: what changed
   * since the store last wrote and no other member holds is lost (the stop logs it as an error).
   */
  readonly stored: boolean;
  /**
   * When not {@link StopOutcome.stored}: why, as an operator reads it (the disk's fault and what to
   * do), with no path or store internals.
   */
  readonly problem?: string;
}

/** The outcome of a stop whose store took what it had to (or that had nothing to write). */
export const STORED: StopOutcome = Object.freeze({ stored: true });

/**
 * The outcome of a stop whose store refused `err`, described as `problem` (no path: it goes over
 * the control socket) and as `logged` (naming state directory `dir`, for the daemon's log).
 */
export function unstored(err: unknown, dir: string): StopOutcome & { readonly logged: string } {
  if (isNoSpace(err)) {
    const what = (where: string) =>
      `no space left on the disk of ${where}: free space in its file system`;
    return {
      stored: false,
      problem: what("its state directory"),
      logged: what(`state directory "${dir}"`),
    };
  }
  const fault = diskFault(err);
  if (fault !== undefined) {
    return {
      stored: false,
      problem: describeDiskFault(fault),
      logged: describeDiskFault(fault, dir),
    };
  }
  // Not a disk's fault the member can name: what failed stays in the log line's `err`.
  const what = (where: string) =>
    `the store of ${where} failed a write (see the error logged before)`;
  return {
    stored: false,
    problem: what("its state directory"),
    logged: what(`state directory "${dir}"`),
  };
}

/**
 * One member's stop as it goes: {@link StopReport.written} settles once its last writes are done
 * (a shutdown request answers with it while the control socket still serves), and
 * {@link StopReport.logLast} writes the stop's last log line.
 */
export class StopReport {
  /** How the stop's writes went, once they are done. */
  readonly written: Promise<StopOutcome>;
  readonly #dir: string;
  #settle!: (outcome: StopOutcome) => void;
  #logged?: string;

  /** A report for the member of state directory `dir`. */
  constructor(dir: string) {
    this.#dir = dir;
    this.written = new Promise((resolve) => (this.#settle = resolve));
  }

  /** Settles {@link written} with what the store could not write (`undefined`: all of it). */
  settle(unwritten: unknown): StopOutcome {
    if (unwritten === undefined) {
      this.#settle(STORED);
      return STORED;
    }
    const { problem, logged } = unstored(unwritten, this.#dir);
    this.#logged = logged;
    const outcome: StopOutcome = { stored: false, problem };
    this.#settle(outcome);
    return outcome;
  }

  /**
   * The stop's last log line: an error when not stored, as `cohort daemon`'s exit status (1)
   * says it; both said a clean stop.
   */
  logLast(logger: Logger): void {
    if (this.#logged === undefined) logger.info("Daemon stopped", { state_dir: this.#dir });
    else {
      logger.error(`Daemon stopped without storing what it had to: ${this.#logged}`, {
        state_dir: this.#dir,
      });
    }
  }
}
