/**
 * A tiny synchronous event emitter for the membership events. Listeners that throw are logged,
 * never allowed to break the engine's loops.
 *
 * @module
 */
import type { MembershipEventName, MembershipEvents } from "../lib/cluster/membership.ts";
import type { Logger } from "../lib/log.ts";

type Listener = (event: never) => void;

/** Event subscriptions by name. */
export class Emitter {
  readonly #listeners = new Map<MembershipEventName, Listener[]>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Subscribes; returns the unsubscribe function. */
  on<E extends MembershipEventName>(
    event: E,
    listener: (event: MembershipEvents[E]) => void,
  ): () => void {
    const list = this.#listeners.get(event) ?? [];
    // Copy on write: emitting iterates a stable array even if a listener unsubscribes.
    this.#listeners.set(event, [...list, listener as Listener]);
    return () => {
      const now = this.#listeners.get(event) ?? [];
      this.#listeners.set(event, now.filter((l) => l !== listener));
    };
  }

  /** Reports whether anyone listens, so callers skip building payloads nobody reads. */
  has(event: MembershipEventName): boolean {
    const list = this.#listeners.get(event);
    return list !== undefined && list.length > 0;
  }

  /** Calls every listener of `event` with `payload`. */
  emit<E extends MembershipEventName>(event: E, payload: MembershipEvents[E]): void {
    const list = this.#listeners.get(event);
    if (!list) return;
    for (const listener of list) {
      try {
        (listener as (e: MembershipEvents[E]) => void)(payload);
      } catch (err) {
        this.#logger.error("Membership event listener failed", { event, err });
      }
    }
  }
}
