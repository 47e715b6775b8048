/**
 * Hooks an embedding app may give the daemon, with MicroCluster's names and moments. A hook
 * that throws aborts the step it guards, and the daemon undoes that step, so no half-made member
 * is left behind. Hooks that only observe (`onNewMember`, `postRemove`, `onHeartbeat`) are
 * logged when they throw.
 *
 * @module
 */
import { CohortError } from "../errors.ts";
import type { MemberService } from "./service.ts";

/** Arguments every hook receives. */
export interface HookContext {
  /** The member the hook runs on. */
  daemon: MemberService;
}

/** Every hook, by name. */
export interface DaemonHooks {
  /** Before a member initialises (bootstrap or join); throwing aborts initialisation. */
  preInit?: (ctx: HookContext & { bootstrap: boolean; config: Record<string, string> }) => unknown;
  /** After a bootstrap has completed; throwing undoes the bootstrap. */
  postBootstrap?: (ctx: HookContext & { config: Record<string, string> }) => unknown;
  /** On every daemon start, before it reports itself started; throwing stops the daemon. */
  onStart?: (ctx: HookContext) => unknown;
  /** On a joiner once admitted, before it starts serving; throwing undoes the join. */
  preJoin?: (ctx: HookContext & { config: Record<string, string> }) => unknown;
  /** On a joiner once it serves as a member. */
  postJoin?: (ctx: HookContext & { config: Record<string, string> }) => unknown;
  /**
   * On every other member once a new member's join has completed (its `preJoin` passed); never
   * for a join that was undone.
   */
  onNewMember?: (ctx: HookContext & { name: string }) => unknown;
  /**
   * On the departing member before it leaves; throwing aborts a removal without --force. A
   * member removed (forced) while it was unreachable runs it when it comes back and finds itself
   * removed, before it resets: its app still gets to clean up.
   */
  preRemove?: (ctx: HookContext & { force: boolean }) => unknown;
  /**
   * On every remaining member after a member that had completed its join was removed, once per
   * removal. `force` is what the member that ran the removal was given (`cluster remove --force`),
   * on every remaining member alike: it travels in a removal note gossiped with the tombstone (a
   * member that never receives the note, e.g. from a member of an older cohort, is told false
   * after waiting a few seconds for it).
   */
  postRemove?: (ctx: HookContext & { name: string; force: boolean }) => unknown;
  /**
   * When this member's own role changes (`role`: `voter`, `stand-by` or `spare`; `previous`:
   * what it was, `PENDING` before its first). MicroCluster's `OnHeartbeat` runs on the dqlite
   * leader after each heartbeat round, with every member's role change; cohort has no leader and
   * no rounds: each member runs it on itself, when the roles every member derives from the
   * roster and liveness (the same on all, once gossip has settled) give it another role. It does
   * not run on a round that changed nothing. A `role-changed` event is emitted at the same moment.
   */
  onHeartbeat?: (ctx: HookContext & { role: string; previous: string }) => unknown;
}

/** A hook's arguments without the daemon, which the member adds. */
export type HookArgs<K extends keyof DaemonHooks> = Omit<
  Parameters<NonNullable<DaemonHooks[K]>>[0],
  "daemon"
>;

/** Runs `hook` (if any) and awaits it; a rejection propagates with the hook's name attached. */
export async function runHook<C>(
  hook: ((ctx: C) => unknown) | undefined,
  name: string,
  ctx: C,
): Promise<void> {
  if (!hook) return;
  try {
    await hook(ctx);
  } catch (err) {
    // The app's own message is shown: it is the app's to word, and only local callers see it.
    throw new CohortError(
      "E_INTERNAL",
      500,
      `Hook ${name} failed: ${(err as Error)?.message ?? String(err)}`,
      { cause: err },
    );
  }
}
