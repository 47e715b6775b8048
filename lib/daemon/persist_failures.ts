/**
 * The log of a view's failed store batches (`persistence.ts`): a run of failed batches (a full
 * disk fails every one, each second) is logged once as it starts, again only when its error
 * changes (its kind: class and code) or every {@link FAILURE_LOG_INTERVAL_MS}, and once more when
 * a batch writes again; a run that starts within that interval of the last warning, of the same
 * kind, is not logged at all (a nearly full disk lets small batches through between failed ones).
 *
 * @module
 */
import type { Clock } from "../cluster/clock.ts";
import type { Logger } from "../log.ts";

/**
 * While batches keep failing with the same error, how often that is logged again, in ms (see
 * the module docs).
 */
export const FAILURE_LOG_INTERVAL_MS = 60_000;

/** The runs of failed batches of one view's persistence; see the module docs. */
export class PersistFailures {
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** The run of failed batches under way: since when, how many, its last error and log line. */
  #failing?: { since: number; failures: number; error: unknown; logged: boolean };
  /** The last warning logged: when, and the kind of error it named. */
  #warned?: { at: number; kind: string };

  /** `clock`: when a run started and how long it lasted (its `now`); `logger`: where it is told. */
  constructor(clock: Clock, logger: Logger) {
    this.#clock = clock;
    this.#logger = logger;
  }

  /** Whether the last batch failed (a run of failed batches is under way). */
  get failing(): boolean {
    return this.#failing !== undefined;
  }

  /** Throws the last failed batch's error while a run of failed batches is under way. */
  throwIfFailing(): void {
    const failing = this.#failing;
    if (failing) throw failing.error;
  }

  /** A batch failed with `err`: logged when it starts a run, and then as the module docs say. */
  failed(err: unknown): void {
    const now = this.#clock.now();
    // Its kind, not its message: one full disk fails a batch's parts with different actions.
    const { code, sqliteCode } = (err ?? {}) as { code?: unknown; sqliteCode?: unknown };
    const kind = `${err instanceof Error ? err.name : typeof err} ${code} ${sqliteCode}`;
    const run = this.#failing ??= { since: now, failures: 0, error: err, logged: false };
    run.failures++;
    run.error = err;
    // Across runs too: a nearly full disk lets small batches through between failed ones.
    const warned = this.#warned;
    if (warned?.kind === kind && now - warned.at < FAILURE_LOG_INTERVAL_MS) return;
    this.#warned = { at: now, kind };
    if (!run.logged) {
      run.logged = true;
      this.#logger.warn("Could not persist the cluster view; retrying", { err });
      return;
    }
    this.#logger.warn("Still could not persist the cluster view; retrying", {
      err,
      failures: run.failures,
      since_ms: now - run.since,
    });
  }

  /** A batch wrote whole: ends a run of failed batches, saying so when the run was logged. */
  wrote(): void {
    const run = this.#failing;
    this.#failing = undefined;
    if (run?.logged) {
      this.#logger.info("Persisted the cluster view again", {
        failures: run.failures,
        after_ms: this.#clock.now() - run.since,
      });
    }
  }
}
