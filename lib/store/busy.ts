/**
 * Waiting for a database lock without holding the event loop. libSQL's busy timeout waits
 * synchronously: a member whose write met a lock held by another connection (the SQL console's
 * process writing for seconds, or an interactive transaction of its own) stopped answering gossip
 * and HTTP for the whole timeout, then failed. Here each attempt waits only
 * {@link SYNC_BUSY_WAIT_MS} on the thread; between attempts the member sleeps on a timer, so
 * gossip and the API keep answering while the lock is held.
 *
 * @module
 */
import type { Client, Transaction } from "@libsql/client";
import { monotonicNow } from "../cluster/monotonic_now.ts";
import type { WriteLock } from "./write_lock.ts";

/** What one attempt may wait for a lock on the thread (libSQL's own busy timeout), in ms. */
export const SYNC_BUSY_WAIT_MS = 10;

/** The longest pause between two attempts, in ms (pauses double from 5 ms up to this). */
const MAX_PAUSE_MS = 200;

/** Options of {@link yieldingOnBusy}. */
export interface BusyOptions {
  /** How long an operation keeps trying before it fails busy, in ms. */
  patienceMs: number;
  /** Pauses between attempts. @default a `setTimeout` promise */
  sleep?: (ms: number) => Promise<void>;
  /** The clock that measures patience, in ms. @default the monotonic clock (`monotonicNow`) */
  now?: () => number;
  /**
   * The lock shared with the store's writer thread (`write_lock.ts`): each operation holds it,
   * an interactive transaction until it commits, rolls back or closes; waiting for it counts
   * against the patience. @default none
   */
  lock?: WriteLock;
  /**
   * Called after each retried operation ends (and an interactive transaction once it ended),
   * whether it succeeded or not: the store has its writer checkpoint the log its commits
   * appended (`ThreadWriter.checkpointSoon`). @default none
   */
  afterOperation?: () => void;
}

/** The client operations retried whole: each is all or nothing, and a busy one did nothing. */
const RETRIED = new Set(["execute", "batch", "migrate", "executeMultiple", "transaction"]);

/** Whether `err` is SQLite's "database is locked" (SQLITE_BUSY and its extended codes). */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}

/**
 * Wraps `client` so that an operation that fails busy is tried again after a pause on a timer,
 * until `patienceMs` has passed; then its last error is thrown. `execute`, `batch`, `migrate` and
 * `executeMultiple` are retried whole (a batch runs in one transaction, rolled back when it
 * fails); `transaction` is retried while it begins (`BEGIN IMMEDIATE` takes the write lock).
 * Statements inside an open transaction are not retried: the transaction owner decides. The
 * client must have been created with a busy timeout of {@link SYNC_BUSY_WAIT_MS}.
 */
export function yieldingOnBusy(client: Client, options: BusyOptions): Client {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? monotonicNow;
  const after = options.afterOperation ?? (() => {});
  return new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || property === "constructor") return value;
      // Bound: the client keeps its state in private fields, which a proxy as `this` cannot reach.
      if (typeof property !== "string" || !RETRIED.has(property)) return value.bind(target);
      return async (...args: unknown[]) => {
        const deadline = now() + options.patienceMs;
        const lock = options.lock;
        for (let pause = 5;; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
          try {
            if (!lock) return await value.apply(target, args);
            const wait = Math.max(0, deadline - now());
            if (property !== "transaction") {
              try {
                return await lock.run(wait, async () => await value.apply(target, args));
              } finally {
                after();
              }
            }
            const release = await lock.acquire(wait);
            return holding(() => {
              release();
              after();
            }, () => value.apply(target, args));
          } catch (err) {
            if (!isBusy(err) || now() >= deadline) throw err;
          }
          await sleep(Math.min(pause, Math.max(1, deadline - now())));
        }
      };
    },
  });
}

/**
 * Opens a transaction holding the lock `release` gives back: once it committed, rolled back or
 * closed (or failed to open).
 */
async function holding(release: () => void, open: () => Promise<Transaction>) {
  let tx: Transaction;
  try {
    tx = await open();
  } catch (err) {
    release();
    throw err;
  }
  const ending = new Set(["commit", "rollback", "close"]);
  return new Proxy(tx, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || property === "constructor") return value;
      if (typeof property !== "string" || !ending.has(property)) return value.bind(target);
      return (...args: unknown[]) => {
        if (property === "close") {
          try {
            return value.apply(target, args);
          } finally {
            release();
          }
        }
        // A commit that failed leaves the transaction open: its owner rolls back or closes.
        return Promise.resolve(value.apply(target, args)).then((result) => {
          release();
          return result;
        }, (err) => {
          if (property === "rollback") release();
          throw err;
        });
      };
    },
  });
}
