/**
 * Removing a member, run on any member. In this order:
 *
 * 1. the departing member is asked to leave (`PUT /core/internal/cluster/NAME`): it runs
 *    `preRemove` (a throw refuses unless forced) and records its leave durably before it answers,
 *    so from then on it finishes its reset even if it is killed (see `leave.ts`);
 * 2. its roster record becomes a tombstone here, right after a removal note saying whether it
 *    was forced: every member stops trusting it (and runs `postRemove` if its join had
 *    completed, told `force` from the note). The departing member writes its own tombstone
 *    too, so the removal completes even if this member dies between 1 and 2.
 *
 * An unreachable member is removed only with `force` (its tombstone alone). The remove answers
 * once the tombstone is in this member's store and on its disk (synced: a store commits with
 * `synchronous = NORMAL`), and fails if this member left the cluster (or stopped) while it
 * waited for the departing member. A remover whose file system had failed answered that the
 * member was removed, and came back (repaired) with it in its roster: where no other member
 * held the tombstone (a cluster of two, the others down), for good. So a removal first checks
 * that this member's disk takes a sync, before step 1 (which cannot be taken back): a read-only
 * or failing disk refuses it, nothing changed (507); a write that fails after step 1 answers
 * 507 too, saying the member was removed but this member could not store it yet.
 *
 * @module
 */
import {
  MEMBER_RECORD,
  REMOVAL_NOTE_MS,
  REMOVAL_RECORD,
  type RosterEntry,
} from "../../cluster/roster.ts";
import { ConflictError, NotFoundError, UnavailableError } from "../../errors.ts";
import { fingerprint } from "../../net/certificates.ts";
import type { MemberContext } from "../context.ts";
import { diskRefusal } from "../disk_refusal.ts";
import type { Network } from "../network.ts";
import { answerError } from "../peers.ts";
import { syncRoster } from "./accept_join.ts";
import { statusOf } from "../phase.ts";
import { agreeToLeave } from "./leave.ts";

/**
 * Removes `name` from the cluster. `forcing` holds the names this member removes with force
 * until their tombstone is written (`postRemove` is told so).
 */
export async function removeMember(
  ctx: MemberContext,
  net: Network,
  name: string,
  force: boolean,
  forcing: Set<string>,
): Promise<void> {
  const roster = net.view.roster();
  const entry = roster.get(name);
  if (!entry) throw new NotFoundError(`No member named "${name}"`);
  if (roster.size === 1) {
    throw new ConflictError(`Cannot remove "${name}": it is the last member of the cluster`);
  }
  if (name === net.config.name) {
    await agreeToLeave(ctx, force);
    const before = net.view.roster();
    noteRemoval(net, name, force);
    net.gossip.setRecord(MEMBER_RECORD, name, null);
    dropOrphanedJoins(net, name, before);
    syncRoster(net);
    return;
  }
  // A member whose join is under way has no name of its own yet to leave with (it answered
  // "This member is …" with its host's name): it completes or is undone within its join's
  // deadline, or is dropped after JOIN_EXPIRY_MS if it never does. Forced, its tombstone alone
  // undoes the join (the joiner checks for it before it commits).
  if (entry.joining && !force) {
    throw new ConflictError(
      `Cannot remove "${name}": its join is under way; try again once it completed, ` +
        "or use --force to undo it",
    );
  }
  // Before the departing member is asked (it cannot be taken back): a disk that refuses a sync
  // would lose the tombstone this member must keep.
  await net.persistence.sync().catch((err: unknown) => {
    throw diskRefusal(err, `Cannot remove "${name}": nothing changed`);
  });
  if (!entry.joining) {
    try {
      const answer = await ctx.env.peers.request({
        address: entry.address,
        method: "PUT",
        path: `/core/internal/cluster/${encodeURIComponent(name)}`,
        body: { force },
        fingerprint: fingerprint(net.identity.clusterCert),
        identity: net.identity,
        timeoutMs: 10_000,
      });
      if (answer.status >= 400 && !force) {
        // A departing member whose disk failed cannot record its leave; forced, it is removed
        // all the same, and resets once it starts on a repaired disk (it asks the others).
        const hint = answer.status === 507
          ? "; or use --force to remove it anyway (it resets once it starts on a repaired disk)"
          : "";
        throw new ConflictError(`Member "${name}" refused to leave: ${answerError(answer)}${hint}`);
      }
    } catch (err) {
      if (err instanceof ConflictError) throw err;
      if (!force) {
        throw new UnavailableError(
          `Cannot reach member "${name}" at ${entry.address}: use --force to remove it anyway`,
        );
      }
      ctx.logger.warn("Removing an unreachable member", { name });
    }
  }
  // The request may have taken seconds: this member may have been removed (or stopped) since,
  // and a tombstone written on a network it no longer runs would reach nobody.
  if (ctx.network !== net || !ctx.machine.is("online")) {
    throw new UnavailableError(
      `Cannot remove "${name}": this member is ${statusOf(ctx.machine.phase)} now`,
    );
  }
  // The tombstone is what distrusts the member everywhere, whatever it did itself. Writing it
  // runs postRemove here (see the member's view reactions), told whether it was forced.
  if (force) forcing.add(name);
  try {
    // Read before the tombstone, which takes the joins it admitted out of the roster.
    const before = net.view.roster();
    noteRemoval(net, name, force);
    net.gossip.setRecord(MEMBER_RECORD, name, null);
    dropOrphanedJoins(net, name, before);
  } finally {
    forcing.delete(name);
  }
  syncRoster(net);
  // A joiner is no longer in the roster the sync above reaches: told at once, so that it finds
  // its tombstone before it commits its join.
  if (entry.joining) net.gossip.sync([entry.address]);
  // Answered only once this member's disk has it: a remove that returned is never forgotten.
  await net.persistence.flushDurably().catch((err: unknown) => {
    throw diskRefusal(
      err,
      `Member "${name}" was removed, but this member could not store its removal yet (it retries)`,
    );
  });
}

/**
 * Writes the removal note just before the tombstone, so that every remaining member's
 * `postRemove` is told whether the removal was forced (see `reactions.ts`). Its life is given
 * from its version: the other members refuse a note that expires later than
 * {@link REMOVAL_NOTE_MS} after its version, and an expiry dated on this member's own clock
 * (not the engine's to the ms) was past that whenever the clock was ahead.
 */
function noteRemoval(net: Network, name: string, force: boolean): void {
  net.gossip.setRecord(REMOVAL_RECORD, name, { force }, { lifetimeMs: REMOVAL_NOTE_MS });
}

/**
 * Writes the tombstones of the joins `admitter` admitted that are still under way: with their
 * admitting member removed, nobody vouches for them any more (`rosterOf` drops them) and every
 * member refuses their gossip. Without a tombstone the joiner committed its join all the same
 * ("Joined"), and stayed online, listed by nobody, for good: asked why it is refused, the others
 * found no removal of it. With one, it undoes its join if it hears of it first, or learns it
 * was removed from the first member that refuses it (`removal_check.ts`), and resets.
 */
function dropOrphanedJoins(
  net: Network,
  admitter: string,
  roster: ReadonlyMap<string, RosterEntry>,
): void {
  for (const [name, entry] of roster) {
    if (entry.joining && entry.admission?.by === admitter && name !== admitter) {
      net.gossip.setRecord(MEMBER_RECORD, name, null);
    }
  }
}
