/**
 * Which member the prober probes next: one asked for at once (a send to it was refused), else
 * one whose last probe failed without deciding, else the next of this round's order, a fresh
 * random one over the table's slots per round (round-robin: every member probed once per
 * round), with the members that became live in slots the order does not cover joining the rest
 * of the round at random places.
 *
 * Separate from the probes themselves (probe.ts): how a target is chosen decides how soon any
 * member's failure is detected, and its random draws are part of what a seeded simulation
 * replays; it is kept apart from what a probe then does.
 *
 * @module
 */
import type { MemberEntry } from "./members.ts";
import { RandomOrder } from "./random.ts";
import type { Random } from "../lib/cluster/random.ts";
import type { StateMachine } from "./state.ts";
import { isLive } from "../lib/cluster/membership.ts";

/** One member's order of probe targets. */
export class ProbeOrder {
  readonly #state: StateMachine;
  readonly #random: Random;
  readonly #newRound: () => void;
  /** This round's order of the table's slots (a fresh random one per round). */
  #order: RandomOrder | undefined;
  /** Members that became live in slots this round's order does not cover, by name. */
  #added: string[] = [];
  /** A member to probe next (a send to it was refused outside a probe), by name. */
  #urgent: string | undefined;
  /**
   * A target whose last probe failed without deciding (no proof: some relay silent; or a member
   * still joining): probed again next, unless one is {@link prioritize}d. Set by the prober.
   */
  doubted: string | undefined;

  /** `newRound`: called as each fresh round's order is drawn. */
  constructor(state: StateMachine, random: Random, newRound: () => void) {
    this.#state = state;
    this.#random = random;
    this.#newRound = newRound;
  }

  /**
   * A member became live: one in a slot this round's order does not cover joins the rest of the
   * round at a random place; others come in their turn.
   */
  add(entry: MemberEntry): void {
    if (entry.index >= (this.#order?.size ?? 0)) this.#added.push(entry.name);
  }

  /** Probes member `name` next. */
  prioritize(name: string): void {
    this.#urgent = name;
  }

  /** The next member to probe: live and not this member; `undefined` when there is none. */
  next(): MemberEntry | undefined {
    const { table, self } = this.#state;
    const probable = (e: MemberEntry | undefined): e is MemberEntry =>
      e !== undefined && e !== self && isLive(e.state);
    const urgent = this.#urgent ?? this.doubted;
    this.#urgent = undefined;
    if (urgent !== undefined) {
      const e = table.get(urgent);
      if (probable(e)) return e;
    }
    this.doubted = undefined;
    for (let pass = 0; pass < 2; pass++) {
      for (let e = this.#pick(); e !== null; e = this.#pick()) {
        if (probable(e)) return e;
      }
      // Wrap-around: a fresh random order over every slot (dead and reaped ones are skipped).
      this.#order = new RandomOrder(table.slots, this.#random);
      this.#added = [];
      this.#newRound();
    }
    return undefined;
  }

  /**
   * The next candidate of this round: from the order or, with the odds of their share of what
   * is left, from the members added during the round; `null` once the round is over.
   */
  #pick(): MemberEntry | undefined | null {
    const random = this.#random;
    const order = this.#order;
    const added = this.#added;
    const left = order ? order.size - order.produced : 0;
    if (added.length > 0 && random.int(left + added.length) < added.length) {
      const j = random.int(added.length);
      const name = added[j];
      added[j] = added[added.length - 1];
      added.pop();
      return this.#state.table.get(name);
    }
    const i = order ? order.next() : -1;
    return i < 0 ? null : this.#state.table.at(i);
  }
}
