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
import { deadlineIn } from "../net/late_deadline.ts";

/** The error a wait longer than its patience ends with: SQLite's own busy code and message. */
export function lockBusyError(): Error {
  return Object.assign(new Error("SQLITE_BUSY: database is locked"), { code: "SQLITE_BUSY" });
}

/** A first-come first-served lock; see the module docs. */
export class WriteLock {
  #held = false;
  readonly #waiting: (() => void)[] = [];

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
        timer.clear();
        resolve(this.#releaser());
      };
      // Late-aware: after a held loop, a holder whose operation completed meanwhile releases the
      // lock before this judges the wait too long.
      const timer = deadlineIn(Math.max(0, timeoutMs), () => {
        const i = this.#waiting.indexOf(grant);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(lockBusyError());
      }, { ref: true });
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
