/**
 * A running member that the others refuse: it asks them whether it was removed. A member removed
 * while it was cut off (a partition, a frozen machine) is never sent its tombstone once every
 * member that could have relayed it has dropped its certificate, and its own view still lists it
 * as a member; the gossip listeners' refusals (HTTP 403 to its dials) are all it gets. Each
 * refusal makes it ask the refusing member the question a restarting member asks before it opens
 * (`askRemoved`), which the others answer from their roster even for a certificate they no longer
 * trust. A tombstone newer than its own admission ends its membership, as gossip would have.
 *
 * A refusal that is not a removal (a member that has not yet heard of this member's admission)
 * costs one question: one question at a time, and at most one per address per
 * {@link QUESTION_GAP_MS}.
 *
 * @module
 */
import type { MemberContext } from "./context.ts";
import { askRemoved, removalQuestion } from "./flows/ask_peers.ts";
import { learnRemoved } from "./flows/leave.ts";

/** Least time between two questions to one address, ms. */
export const QUESTION_GAP_MS = 10_000;
/** Addresses remembered at most (older ones are forgotten first). */
const MAX_REMEMBERED = 256;

/** The removal questions of one member; see the module docs. */
export class RemovalCheck {
  readonly #ctx: MemberContext;
  /** When each address was last asked (the member's clock, ms). */
  readonly #asked = new Map<string, number>();
  #asking = false;

  constructor(ctx: MemberContext) {
    this.#ctx = ctx;
  }

  /** The gossip listener at `address` refused this member's certificate. */
  refused(address: string): void {
    const ctx = this.#ctx;
    const net = ctx.network;
    if (this.#asking || !net || !ctx.machine.is("waiting", "online")) return;
    const now = ctx.env.clock.now();
    const last = this.#asked.get(address);
    if (last !== undefined && now - last < QUESTION_GAP_MS) return;
    this.#asked.delete(address);
    this.#asked.set(address, now);
    if (this.#asked.size > MAX_REMEMBERED) {
      this.#asked.delete(this.#asked.keys().next().value!);
    }
    const { name, since, identity } = removalQuestion(net);
    this.#asking = true;
    void ctx.background.run("Asking a member that refused this one", async () => {
      try {
        const answer = await askRemoved(ctx, [address], name, since, identity);
        // The network may have been replaced meanwhile (a reset and a new join).
        if (answer === "removed" && ctx.network === net) {
          ctx.logger.warn("A member says this member was removed", { address });
          learnRemoved(ctx, "removed, as a member that refused it said");
        }
      } finally {
        this.#asking = false;
      }
    });
  }
}
