/**
 * A member's stop, in its order: the member says it is stopping (long-lived answers end), its
 * background work and reactions stop, it leaves its cluster's gossip (telling its peers) and its
 * network's last writes land, its store syncs what it committed (`Store.flush`), the outcome is known (a shutdown
 * request answers with it while the control socket still serves), then the control socket, the
 * store and the state directory's lock are let go and the last log line says how it went.
 * `member.ts` assembles the member and calls this once.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Listener } from "../net/serve.ts";
import type { AppRecords } from "../records/records.ts";
import type { Store } from "../store/open.ts";
import type { Background } from "./background.ts";
import type { EventHub } from "./events.ts";
import type { PhaseMachine } from "./phase.ts";
import type { ViewReactions } from "./reactions.ts";
import type { StopOutcome, StopReport } from "./stop_outcome.ts";

/** The parts of a member that {@link stopMember} stops (the member itself has them). */
export interface StoppingMember {
  readonly machine: PhaseMachine;
  readonly events: EventHub;
  readonly background: Background;
  readonly reactions: ViewReactions;
  readonly records: AppRecords;
  readonly logger: Logger;
  /** The member's store (absent when its open failed before there was one). */
  readonly store: Store | undefined;
  /** Closes the certificate issuer, the app's included. */
  releaseIssuer(): void;
}

/** What only the member holds, handed to {@link stopMember}. */
export interface StopHandles {
  /** The control socket, when the member serves one (read once the stop's writes are done). */
  control(): Listener | undefined;
  /** The report whose outcome a shutdown request waits for. */
  readonly report: StopReport;
  /**
   * Drops the member's network, telling its peers it leaves; resolves to the store's error when
   * the network's last writes failed, `undefined` when they landed (or there was no network).
   */
  closeNetwork(): Promise<unknown>;
  /** Releases the state directory's lock. */
  release(): void;
}

/**
 * Stops `member` (see the module docs) and resolves to how it went: not
 * {@link StopOutcome.stored} when the store refused what the member had to write (also its last
 * log line, an error). Call it once; the member keeps the promise for later callers.
 */
export async function stopMember(
  member: StoppingMember,
  own: StopHandles,
): Promise<StopOutcome> {
  member.machine.to("stopping", "stop requested");
  member.events.emit("stopping", {}); // long-lived answers (event streams) end now
  member.background.stop();
  member.reactions.stop();
  member.records.close();
  // A stopped daemon stays a member (only `cluster remove` takes it out), but it tells its
  // peers it is going, so they show it UNREACHABLE at once instead of after failure detection.
  const unwritten = await own.closeNetwork().catch(() => undefined);
  // Commits reach the disk at a checkpoint: one that fails leaves the last of them (the
  // network's, the app's: its client is this store's) unsynced, and the stop said "Daemon
  // stopped" and exited 0 on a failing disk. Closing then has nothing left to store: an error
  // of the close itself (a closed client) is harmless. An app write refused at stop rejects
  // the app's own call, which tells it.
  const outcome = own.report.settle(unwritten ?? await flushStore(member));
  member.releaseIssuer();
  await own.control()?.close().catch(() => {});
  try {
    member.store?.close();
  } catch { /* already closed */ }
  own.release();
  own.report.logLast(member.logger);
  return outcome;
}

/** The store's error storing what it committed (see `Store.flush`), `undefined` once done. */
function flushStore(member: StoppingMember): Promise<unknown> {
  return member.store?.flush().then(({ logKept }) => {
    if (logKept) {
      // Nothing is lost (the log is synced), but the database file alone is not up to date: a
      // copy of it without its `-wal` file misses the last commits.
      member.logger.info(
        "Stopping with the database's log kept: another process was reading the database " +
          "(sqlite3, a backup, the SQL console); the log holds the last commits, synced, and " +
          "the next start copies them in",
      );
    }
    return undefined;
  }, (err: unknown) => {
    member.logger.error("Stopping without storing the store's last commits", { err });
    return err;
  }) ?? Promise.resolve(undefined);
}
