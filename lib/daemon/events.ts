/**
 * The daemon's own events, for embedding apps (membership events come from the gossip view).
 * Listeners run synchronously; one that throws is logged and does not stop the others.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { PhaseChange } from "./phase.ts";

/** Events a daemon emits, by name. */
export interface DaemonEvents {
  /** A member that waited for others to upgrade opened; `waitedMs` is how long it waited. */
  "upgrade-opened": { waitedMs: number };
  /** The extensions every live member shares grew (the last member of an upgrade arrived). */
  "cluster-extensions": { extensions: string[]; previous: string[] };
  /** The daemon begins to stop: long-lived answers (event streams) end now. */
  stopping: Record<string, never>;
  /**
   * The member's lifecycle moved (see `phase.ts`: uninitialized, joining, starting, waiting,
   * online, refused, removed, stopping), with the reason; emitted after it is logged.
   */
  phase: PhaseChange;
}

/** Subscriptions and delivery of {@link DaemonEvents}. */
export class EventHub {
  readonly #listeners = new Map<keyof DaemonEvents, ((payload: never) => void)[]>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Subscribes; returns the function that unsubscribes. */
  on<E extends keyof DaemonEvents>(
    event: E,
    listener: (payload: DaemonEvents[E]) => void,
  ): () => void {
    // Copy on write, so delivery iterates a stable list even if a listener unsubscribes.
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), listener]);
    return () => {
      this.#listeners.set(event, (this.#listeners.get(event) ?? []).filter((l) => l !== listener));
    };
  }

  /** Delivers `payload` to every listener of `event`. */
  emit<E extends keyof DaemonEvents>(event: E, payload: DaemonEvents[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as (p: DaemonEvents[E]) => void)(payload);
      } catch (err) {
        this.#logger.error("Daemon event listener failed", { event, err });
      }
    }
  }
}
