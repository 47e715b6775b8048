/**
 * The member's lifecycle as one explicit state machine, and its only writer.
 *
 * ```
 * uninitialized ──► joining ──► online                 (bootstrap, join; undone: ► uninitialized)
 * starting ──► waiting ──► online                      (a restart of an initialised member)
 *    │            │          │
 *    ├────────────┴──► refused                         (the upgrade gate refused this start)
 *    └────────────┴──────────┴──► removed ──► uninitialized   (its own tombstone: reset)
 * any phase ──► stopping                               (stop(); terminal)
 * ```
 *
 * Every transition is checked against {@link TRANSITIONS}, logged (`"Phase changed"`, with
 * `from`, `to` and the reason) and delivered to the listeners, in that order. What the routes see
 * is the {@link MemberStatus} of a phase ({@link statusOf}).
 *
 * @module
 */
import { CohortError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { MemberStatus } from "./service.ts";

/** A member's phase; see the module docs. */
export type Phase =
  | "uninitialized"
  | "joining"
  | "starting"
  | "waiting"
  | "online"
  | "refused"
  | "removed"
  | "stopping";

/** The phases each phase may move to. */
export const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = Object.freeze({
  uninitialized: ["joining", "stopping"],
  joining: ["online", "uninitialized", "stopping"],
  starting: ["waiting", "online", "refused", "removed", "stopping"],
  waiting: ["online", "refused", "removed", "stopping"],
  online: ["removed", "stopping"],
  refused: ["stopping"],
  removed: ["uninitialized", "stopping"],
  stopping: [],
});

/**
 * The status the API reports in each phase (MicroCluster's database statuses). A joining member
 * is still starting; a refused one is on its way out; a removed one is about to be uninitialised
 * (it serves nothing but its status meanwhile).
 */
export function statusOf(phase: Phase): MemberStatus {
  switch (phase) {
    case "joining":
      return "starting";
    case "refused":
      return "stopping";
    case "removed":
      return "uninitialized";
    default:
      return phase;
  }
}

/** One transition, as logged and delivered. */
export interface PhaseChange {
  from: Phase;
  to: Phase;
  /** Why, in a few words (`"bootstrap"`, `"gate opened"`, `"own tombstone"`, …). */
  reason: string;
}

/** The single writer of a member's phase; see the module docs. */
export class PhaseMachine {
  #phase: Phase;
  readonly #logger: Logger;
  readonly #listeners: ((change: PhaseChange) => void)[] = [];

  constructor(initial: Phase, logger: Logger) {
    this.#phase = initial;
    this.#logger = logger;
  }

  /** The current phase. */
  get phase(): Phase {
    return this.#phase;
  }

  /** Whether the member is in one of `phases`. */
  is(...phases: Phase[]): boolean {
    return phases.includes(this.#phase);
  }

  /**
   * Moves to `to`. A move to the current phase, or any move once stopping, is a no-op (returns
   * false).
   *
   * @throws {CohortError} `E_INTERNAL` for a transition the table does not allow: a bug.
   */
  to(to: Phase, reason: string): boolean {
    const from = this.#phase;
    if (from === to) return false;
    // Stopping is terminal: a flow still running when the member stops finds nothing to change.
    if (from === "stopping") return false;
    if (!TRANSITIONS[from].includes(to)) {
      throw new CohortError("E_INTERNAL", 500, `Invalid member phase change ${from} -> ${to}`);
    }
    this.#phase = to;
    this.#logger.info("Phase changed", { from, to, reason });
    const change = { from, to, reason };
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#logger.error("Phase listener failed", { err, from, to });
      }
    }
    return true;
  }

  /** Subscribes to transitions. */
  onChange(listener: (change: PhaseChange) => void): void {
    this.#listeners.push(listener);
  }
}
