/**
 * A member's periodic loops (push-pull, reconnect, reaping): each runs every `period()` ms, its
 * first run after a random stagger so that members started together do not act in step, and a
 * fault in one run is logged and the loop goes on.
 *
 * Separate from the engine (engine.ts) because the stagger draws from the member's seeded
 * randomness when a loop is added: the order loops are added in is part of what a seeded
 * simulation replays, and it is kept here in one place.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../lib/cluster/clock.ts";
import type { Random } from "../lib/cluster/random.ts";
import type { Logger } from "../lib/log.ts";

/** Loops on one clock, all stopped at once by {@link Periodic.stop}. */
export class Periodic {
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #logger: Logger;
  readonly #timers: (TimerHandle | undefined)[] = [];
  #stopped = false;

  constructor(clock: Clock, random: Random, logger: Logger) {
    this.#clock = clock;
    this.#random = random;
    this.#logger = logger;
  }

  /**
   * Runs `fn` every `period()` ms (read again after each run, so a period may follow the
   * cluster's size), first after a random stagger of 1 to `period()` ms; faults are logged,
   * never thrown.
   */
  every(period: () => number, fn: () => void): void {
    const slot = this.#timers.length;
    const tick = () => {
      if (this.#stopped) return;
      try {
        fn();
      } catch (err) {
        this.#logger.error("Gossip loop failed", { err });
      }
      this.#timers[slot] = this.#clock.setTimeout(tick, period());
    };
    this.#timers.push(this.#clock.setTimeout(tick, this.#random.int(period()) + 1));
  }

  /** Stops every loop; none runs again. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) if (t !== undefined) this.#clock.clearTimeout(t);
    this.#timers.length = 0;
  }
}
