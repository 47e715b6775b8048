/**
 * Which names may enter the member table: a name enters only when the trust says it joined
 * ({@link Claims.isMember}), and the table holds at most `maxMembers` entries. A claim about a
 * name not known yet waits a little in case its evidence (the roster record) is on its way.
 *
 * @module
 */
import type { Clock } from "../lib/cluster/clock.ts";
import type { Logger } from "../lib/log.ts";
import type { Claims } from "./claims.ts";
import type { MemberTable } from "./members.ts";

/** Claims about names not (yet) members kept for a retry, and for how long (ms). */
const WAITING = 64;
const WAITING_MS = 30_000;

/** The admission of new names to a member table, with the claims waiting for their evidence. */
export class TableAdmission {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #claims: Claims;
  readonly #table: MemberTable;
  readonly #maxMembers: number;
  readonly #counters: { notMembers: number };
  /** Claims about names that were not members when they came, by name (oldest first). */
  readonly #waiting = new Map<string, { at: number; retry: () => void }>();
  #fullLogged = -Infinity;

  /**
   * `maxMembers`: the most entries `table` may hold; `counters.notMembers` counts the claims
   * about names that were not members.
   */
  constructor(ctx: {
    clock: Clock;
    logger: Logger;
    claims: Claims;
    table: MemberTable;
    maxMembers: number;
    counters: { notMembers: number };
  }) {
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#claims = ctx.claims;
    this.#table = ctx.table;
    this.#maxMembers = ctx.maxMembers;
    this.#counters = ctx.counters;
  }

  /**
   * Whether a claim about `name`, not in the table, may enter it: `name` is a member and the
   * table has room. A claim about a name that is not a member (yet) is kept for
   * {@link retryWaiting}: the evidence of its admission may be on its way.
   */
  admissible(name: string, retry: () => void): boolean {
    if (!this.#claims.isMember(name)) {
      this.#counters.notMembers++;
      this.keep(name, retry);
      return false;
    }
    if (this.#table.size >= this.#maxMembers) {
      const now = this.#clock.now();
      if (now - this.#fullLogged >= 10_000) {
        this.#fullLogged = now;
        this.#log.warn("Member table full: ignoring a new member", {
          member: name,
          maxMembers: this.#maxMembers,
        });
      }
      return false;
    }
    return true;
  }

  /**
   * Keeps `retry` (a claim about `name` that its evidence does not support yet) for
   * {@link retryWaiting}: the roster record that admits `name`, or a new identity under it, may
   * be on its way. At most 64 names wait (the oldest dropped first), one claim each.
   */
  keep(name: string, retry: () => void): void {
    const waiting = this.#waiting;
    waiting.delete(name);
    if (waiting.size >= WAITING) waiting.delete(waiting.keys().next().value!);
    waiting.set(name, { at: this.#clock.now(), retry });
  }

  /**
   * Applies again the claims kept for names that were not members then (call it when the
   * evidence of membership changed, e.g. a roster record arrived). Claims older than 30 s are
   * dropped: gossip or a push-pull brings them again.
   */
  retryWaiting(): void {
    if (this.#waiting.size === 0) return;
    const now = this.#clock.now();
    const due = [...this.#waiting];
    this.#waiting.clear();
    for (const [name, w] of due) {
      if (now - w.at > WAITING_MS) continue;
      if (this.#claims.isMember(name)) w.retry();
      else this.#waiting.set(name, w);
    }
  }
}
