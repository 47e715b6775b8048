/**
 * Everything a member does in the background (timers, repeating ticks, work started without an
 * awaiting caller) runs through one {@link Background}: on the injected clock, so a whole member
 * runs on a simulated clock, and behind a catch that logs, so no background path can end the
 * process with an unhandled rejection. `stop()` cancels every timer that has not fired.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../cluster/clock.ts";
import type { Logger } from "../log.ts";

/** A cancellable timer of {@link Background}. */
export interface Cancel {
  (): void;
}

/** The background work of one member; see the module docs. */
export class Background {
  readonly clock: Clock;
  readonly #logger: Logger;
  readonly #timers = new Set<TimerHandle>();
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  constructor(clock: Clock, logger: Logger) {
    this.clock = clock;
    this.#logger = logger;
  }

  /**
   * Runs `work` now without awaiting it; a throw or rejection is logged as `"<what> failed"`.
   * Returns the settled promise (never rejects), for callers that want to wait after all.
   */
  run(what: string, work: () => unknown): Promise<void> {
    const p = (async () => {
      try {
        await work();
      } catch (err) {
        this.#logger.error(`${what} failed`, { err });
      }
    })();
    this.#running.add(p);
    void p.finally(() => this.#running.delete(p));
    return p;
  }

  /** Runs `work` once after `ms` (see {@link run}); returns the function that cancels it. */
  after(what: string, ms: number, work: () => unknown): Cancel {
    if (this.#stopped) return () => {};
    const handle = this.clock.setTimeout(() => {
      this.#timers.delete(handle);
      void this.run(what, work);
    }, ms);
    this.#timers.add(handle);
    return () => {
      if (this.#timers.delete(handle)) this.clock.clearTimeout(handle);
    };
  }

  /**
   * Runs `work` every `ms`, the next run scheduled once the previous one settled (a slow run
   * never overlaps the next); returns the function that cancels it.
   */
  every(what: string, ms: number, work: () => unknown): Cancel {
    let cancel: Cancel = () => {};
    let cancelled = false;
    const tick = () => {
      cancel = this.after(what, ms, async () => {
        try {
          await work();
        } finally {
          if (!cancelled) tick();
        }
      });
    };
    tick();
    return () => {
      cancelled = true;
      cancel();
    };
  }

  /** Waits for the background work under way (not for timers that have not fired). */
  async idle(): Promise<void> {
    while (this.#running.size) await Promise.all([...this.#running]);
  }

  /** Cancels every timer; later `after`/`every` calls schedule nothing. Idempotent. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) this.clock.clearTimeout(t);
    this.#timers.clear();
  }
}
