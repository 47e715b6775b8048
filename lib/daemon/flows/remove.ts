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
 * once the tombstone is in this member's store, and fails if this member left the cluster (or
 * stopped) while it waited for the departing member.
 *
 * @module
 */
import { MEMBER_RECORD, REMOVAL_NOTE_MS, REMOVAL_RECORD } from "../../cluster/roster.ts";
import { ConflictError, NotFoundError, UnavailableError } from "../../errors.ts";
import { fingerprint } from "../../net/certificates.ts";
import type { MemberContext } from "../context.ts";
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
    noteRemoval(ctx, net, name, force);
    net.gossip.setRecord(MEMBER_RECORD, name, null);
    syncRoster(net);
    return;
  }
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
      throw new ConflictError(`Member "${name}" refused to leave: ${answerError(answer)}`);
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
    noteRemoval(ctx, net, name, force);
    net.gossip.setRecord(MEMBER_RECORD, name, null);
  } finally {
    forcing.delete(name);
  }
  syncRoster(net);
  // Answered only once this member's store has it: a remove that returned is never forgotten.
  await net.persistence.flush();
}

/**
 * Writes the removal note just before the tombstone, so that every remaining member's
 * `postRemove` is told whether the removal was forced (see `reactions.ts`).
 */
function noteRemoval(ctx: MemberContext, net: Network, name: string, force: boolean): void {
  net.gossip.setRecord(REMOVAL_RECORD, name, { force }, {
    expiresAt: ctx.env.clock.now() + REMOVAL_NOTE_MS,
  });
}
