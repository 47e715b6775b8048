/**
 * One writer at a time among a store's own connections. A member whose writes run on a writer
 * thread (`thread_writer.ts`) holds two connections to its database; without this, one met the
 * other's SQLite lock. libSQL leaves a statement that failed busy active on its connection, so
 * the next commit there failed "cannot commit transaction - SQL statements in progress", even
 * after a retry. Here a connection's operation first waits for the other's, off the event loop,
 * and SQLite's lock is only ever met from another process (the SQL console's).
 *
 * @module
 */
import type { Clock, TimerHandle } from "../cluster/clock.ts";
import { deadlineIn } from "../net/late_deadline.ts";

/** The error a wait longer than its patience ends with: SQLite's own busy code and message. */
export function lockBusyError(): Error {
  return Object.assign(new Error("SQLITE_BUSY: database is locked"), { code: "SQLITE_BUSY" });
}

/** The timers a {@link WriteLock} measures its waits' patience on. */
export type LockTimers = Pick<Clock, "setTimeout" | "clearTimeout">;

/** A first-come first-served lock; see the module docs. */
export class WriteLock {
  #held = false;
  readonly #waiting: (() => void)[] = [];
  readonly #timers?: LockTimers;

  /**
   * @param timers the timers that end a wait: a member's clock (a simulated world's waits end
   *   on its simulated time, and replay). @default a late-aware deadline on the monotonic clock
   *   (`lib/net/late_deadline.ts`) that keeps the process alive while it waits
   */
  constructor(timers?: LockTimers) {
    this.#timers = timers;
  }

  /**
   * Resolves with the function that releases the lock once it is the caller's; rejects with
   * {@link lockBusyError} when it was not within `timeoutMs`.
   */
  acquire(timeoutMs: number): Promise<() => void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        clear();
        resolve(this.#releaser());
      };
      const expire = () => {
        const i = this.#waiting.indexOf(grant);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(lockBusyError());
      };
      const ms = Math.max(0, timeoutMs);
      let clear: () => void;
      if (this.#timers) {
        const timers = this.#timers;
        const handle: TimerHandle = timers.setTimeout(expire, ms);
        clear = () => timers.clearTimeout(handle);
      } else {
        // Late-aware: after a held loop, a holder whose operation completed meanwhile releases
        // the lock before this judges the wait too long.
        const deadline = deadlineIn(ms, expire, { ref: true });
        clear = () => deadline.clear();
      }
      this.#waiting.push(grant);
    });
  }

  /** Runs `fn` holding the lock (waiting at most `timeoutMs` for it). */
  async run<T>(timeoutMs: number, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(timeoutMs);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Whether someone holds the lock. */
  get held(): boolean {
    return this.#held;
  }

  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#held = false;
    };
  }
}
