/**
 * A member's initialisation: bootstrap a cluster or join one (`flows/bootstrap.ts`,
 * `flows/join.ts`), then serve online; undone completely on any failure (back to
 * `uninitialized`). `member.ts` calls it for `POST /core/control`.
 *
 * @module
 */
import { ConflictError } from "../errors.ts";
import type { MemberContext } from "./context.ts";
import { bootstrapCluster } from "./flows/bootstrap.ts";
import { joinCluster, type JoinSteps } from "./flows/join.ts";
import type { ControlRequest } from "./service.ts";

/**
 * Bootstraps or joins (as `request` says), then puts `member` online and logs where a join's
 * time went; a join then runs the app's `postJoin` hook.
 *
 * @throws {ConflictError} when the member is initialised already (or resetting after its
 *   removal); whatever the flow threw, once undone.
 */
export async function initializeMember(
  member: MemberContext,
  request: ControlRequest,
): Promise<void> {
  if (!member.machine.is("uninitialized")) {
    // A join or bootstrap under way has no name yet (its configuration lands at its commit).
    const what = member.machine.is("removed")
      ? "it is resetting after its removal; try again in a moment"
      : member.machine.is("joining")
      ? "an initialization (a bootstrap or a join) is already under way; wait for its answer"
      : `it is already initialized as "${member.service.info().name}"`;
    throw new ConflictError(`Cannot initialize this member: ${what}`);
  }
  member.machine.to("joining", request.bootstrap ? "bootstrap" : "join");
  let steps: JoinSteps | undefined;
  try {
    if (request.bootstrap) await bootstrapCluster(member, request);
    else steps = await joinCluster(member, request);
  } catch (err) {
    member.machine.to("uninitialized", "initialisation undone");
    throw err;
  }
  const online = member.env.clock.now();
  member.machine.to("online", request.bootstrap ? "bootstrapped" : "joined");
  member.releaseIssuer();
  // A join's last change (its roster record no longer `joining`) is being written already (a
  // roster change is written at once), and a restart before it lands clears the mark when it
  // opens: the answer does not wait for the store (up to 1.6 s on a loaded machine at N = 50).
  if (request.bootstrap) await member.network?.persistence.flush();
  member.logger.info(request.bootstrap ? "Bootstrapped a new cluster" : "Joined the cluster", {
    name: request.name,
    address: request.address,
    // Where a join's time went (issue 15: `init --token` returns within 1 s of its admission).
    ...(steps ? { ...steps, online_ms: member.env.clock.now() - online } : {}),
  });
  if (!request.bootstrap) await member.hook("postJoin", { config: request.config ?? {} });
}
