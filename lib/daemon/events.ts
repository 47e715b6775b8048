/**
 * The daemon's events, for embedding apps: subscribed with `member.on(name, listener)` from the
 * moment `createMember` returns, whatever the member's state (they keep coming across `init`, a
 * restart of the network and a reset). Membership events come from the member's one cluster
 * view (the view hands each change to the member, which emits it here after its own reactions).
 * Listeners run synchronously; one that throws is logged and does not stop the others.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { MemberState } from "../cluster/membership.ts";
import type { PhaseChange } from "./phase.ts";

/** A membership event's payload. */
export interface MemberChange {
  /** The member's name. */
  name: string;
  /** Its gossip state before the change (`undefined` for a member seen the first time). */
  previous: MemberState | undefined;
}

/** Events a daemon emits, by name. */
export interface DaemonEvents {
  /** A member was seen alive for the first time, or came back after it failed or left. */
  "member-join": MemberChange;
  /** A suspected member proved alive (it refuted the suspicion). */
  "member-alive": MemberChange;
  /** A member stopped answering probes: suspected, not yet declared failed. */
  "member-suspect": MemberChange;
  /** A member was declared failed (it never refuted the suspicion). */
  "member-failed": MemberChange;
  /** A member left gracefully (it stopped, telling the others). */
  "member-left": MemberChange;
  /** A live member's metadata changed (its role, app version, schema or extensions). */
  "member-updated": MemberChange;
  /** A member was removed from the cluster (its roster record became a tombstone). */
  "member-removed": { name: string };
  /**
   * This member's role changed (the leaderless rule re-ranked the members): `voter`,
   * `stand-by`, `spare` or `PENDING`. The `onHeartbeat` hook runs at the same moment.
   */
  "role-changed": { role: string; previous: string };
  /**
   * This member waits for others to upgrade before it serves (its app endpoints answer 503
   * unless they are served while waiting); `waitingFor` names them.
   */
  "upgrade-waiting": { waitingFor: string[] };
  /**
   * This member's start was refused by the upgrade gate after it had waited (a refusal at start
   * rejects `createMember` instead); the daemon stops.
   */
  "upgrade-refused": { reason: string };
  /** A member that waited for others to upgrade opened; `waitedMs` is how long it waited. */
  "upgrade-opened": { waitedMs: number };
  /** The extensions every member shares grew (the last member of an upgrade arrived). */
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
