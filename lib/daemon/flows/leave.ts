/**
 * Leaving the cluster: the departing member's side of a removal, and what a member does when it
 * learns it was removed. One order, each step durable before the next (see `order.ts`):
 *
 * 1. `preRemove` runs (when asked to leave: a throw refuses the removal unless forced);
 * 2. `transition.json` records the leave: from here a restart finishes it;
 * 3. the phase becomes `removed`: nothing but the status is served any more;
 * 4. this member's tombstone is written and gossip is left gracefully (best effort);
 * 5. `daemon.json` goes, then the store is made fresh, then the certificates;
 * 6. `transition.json` goes: the member is uninitialised, like a fresh one.
 *
 * A failure in the background is logged (never an unhandled rejection); the transition file
 * stays, so the next start finishes the reset.
 *
 * @module
 */
import { fingerprint } from "../../net/certificates.ts";
import { type TimerHandle, wallNow } from "../../cluster/clock.ts";
import { MEMBER_RECORD } from "../../cluster/roster.ts";
import type { MemberContext } from "../context.ts";
import { clearTransition, readTransition, writeTransition } from "../transition.ts";
import { withdrawMarked } from "./ask_peers.ts";
import { wipeState } from "./wipe.ts";

/** The departing member's reset under way, so it runs once. */
const resetting = new WeakMap<MemberContext, Promise<void>>();
/** Members whose preRemove ran when they were asked to leave (not to be run again). */
const agreed = new WeakSet<MemberContext>();

/** A member's leave being recorded, so that two paths to it write the mark once. */
const recording = new WeakMap<MemberContext, Promise<void>>();

/**
 * Records the leave durably (step 2), unless it is already recorded: synced off the event loop,
 * so a disk that holds the sync does not hold the member's answers meanwhile.
 */
function recordLeave(ctx: MemberContext): Promise<void> {
  let p = recording.get(ctx);
  if (p) return p;
  if (readTransition(ctx.paths)?.step === "leave") return Promise.resolve();
  const network = ctx.network;
  p = writeTransition(ctx.paths, {
    step: "leave",
    name: ctx.config?.name ?? "",
    peers: network?.view.otherAddresses() ?? [],
    fingerprint: network ? fingerprint(network.identity.clusterCert) : "",
    at: wallNow(ctx.env.clock), // read after a restart: a date
  }).finally(() => recording.delete(ctx));
  recording.set(ctx, p);
  return p;
}

/**
 * This member is asked to leave (`cluster remove` here or on another member): runs preRemove
 * now, so that a throw refuses the removal unless `force`, records the leave, and resets once
 * the caller has had its answer (the reset closes the listener the request came in on).
 */
export async function agreeToLeave(ctx: MemberContext, force: boolean): Promise<void> {
  await ctx.hook("preRemove", { force }).catch((err) => {
    if (!force) throw err;
    ctx.logger.error("Hook failed", { hook: "preRemove", err });
  });
  agreed.add(ctx);
  await recordLeave(ctx);
  // From here it takes no app write: one answered now would be lost with the member (the others
  // refuse its gossip once the remover wrote its tombstone).
  if (ctx.machine.is("online", "waiting")) ctx.machine.to("removed", "asked to leave");
  await handOver(ctx);
  ctx.background.after("Leaving the cluster", 10, () => finishLeave(ctx));
}

/**
 * How long a departing member waits for the others to take its state before it answers the
 * request to leave, ms: the remover waits 10 s for that answer.
 */
export const HAND_OVER_MS = 3000;

/**
 * How many live members a departing member hands its state to: any one that takes it passes it
 * on by gossip as it would a write made there, so a few are enough whatever the cluster's size
 * (an exchange with every member cost one full state per member at every removal).
 */
export const HAND_OVER_TO = 3;

/**
 * Exchanges full state with {@link HAND_OVER_TO} live members, drawn at random, before the
 * departing member answers: what it alone held (records written here a moment before, still on
 * their way by gossip) would be lost once the remover's tombstone makes every member refuse its
 * gossip. Bounded by {@link HAND_OVER_MS}; one that did not answer in time is logged.
 */
async function handOver(ctx: MemberContext): Promise<void> {
  const net = ctx.network;
  if (!net) return;
  const live = [...net.view.roster()]
    .filter(([name]) => name !== ctx.config?.name && net.view.liveness(name).up)
    .map(([, entry]) => entry.address);
  const to: string[] = [];
  while (to.length < HAND_OVER_TO && live.length > 0) {
    to.push(live.splice(Math.floor(ctx.env.random() * live.length), 1)[0]);
  }
  if (to.length === 0) return;
  let timer: TimerHandle | undefined;
  const late = new Promise<"late">((
    r,
  ) => (timer = ctx.env.clock.setTimeout(() => r("late"), HAND_OVER_MS)));
  const answered = await Promise.race([net.gossip.join(to), late]);
  ctx.env.clock.clearTimeout(timer!);
  if (answered === "late" || answered < to.length) {
    ctx.logger.warn("Leaving: not every member asked took this member's state in time", {
      asked: to.length,
      ...(answered === "late" ? {} : { answered }),
    });
  }
}

/**
 * This member learnt it was removed (its own tombstone, from gossip, from another member, or
 * from its own store): stops serving at once and resets in the background.
 */
export function learnRemoved(ctx: MemberContext, reason: string): void {
  if (!ctx.machine.is("starting", "waiting", "online")) return;
  ctx.machine.to("removed", reason);
  void ctx.background.run("Leaving the cluster", () => finishLeave(ctx));
}

/** Steps 2 to 6, once; see the module docs. */
export function finishLeave(ctx: MemberContext): Promise<void> {
  let p = resetting.get(ctx);
  if (!p) {
    p = reset(ctx).finally(() => resetting.delete(ctx));
    resetting.set(ctx, p);
  }
  return p;
}

async function reset(ctx: MemberContext): Promise<void> {
  if (ctx.machine.is("uninitialized", "stopping", "refused", "joining")) return;
  const name = ctx.config?.name;
  if (!ctx.machine.is("removed")) ctx.machine.to("removed", "asked to leave");
  const preRemoved = agreed.has(ctx);
  agreed.delete(ctx);
  if (!preRemoved) {
    // Learnt from the roster alone (e.g. removed with --force while unreachable): the app still
    // gets to clean up before the reset.
    await ctx.hook("preRemove", { force: false }).catch((err) =>
      ctx.logger.error("Hook failed", { hook: "preRemove", err })
    );
  }
  await recordLeave(ctx);
  const gossip = ctx.network?.gossip;
  if (name && gossip && gossip.record(MEMBER_RECORD, name)?.value !== null) {
    try {
      gossip.setRecord(MEMBER_RECORD, name, null);
    } catch (err) {
      ctx.logger.error("Could not write this member's tombstone", { err });
    }
  }
  await ctx.dropNetwork(true);
  await wipeState(ctx);
  await clearTransition(ctx.paths);
  ctx.machine.to("uninitialized", "left the cluster");
  ctx.logger.info("Left the cluster: this member is uninitialized again", { name });
}

/**
 * At start, a leave recorded but not finished (a crash cut it short): asks the others to take
 * this member out (its tombstone may not have spread), then finishes the reset. The member is
 * uninitialised afterwards.
 */
export async function resumeLeave(ctx: MemberContext): Promise<void> {
  const t = readTransition(ctx.paths)!;
  ctx.logger.warn("Finishing a leave cut short", { name: t.name });
  await withdrawMarked(ctx, t);
  await wipeState(ctx);
  await clearTransition(ctx.paths);
  ctx.logger.info("Left the cluster: this member is uninitialized again", { name: t.name });
}
