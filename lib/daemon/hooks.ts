/**
 * Hooks an embedding app may give the daemon, with MicroCluster's names and moments. A hook
 * that throws aborts the step it guards, and the daemon undoes that step.
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

/** The hooks available in this version. */
export interface DaemonHooks {
  /** Before a member initialises (bootstrap or join); throwing aborts initialisation. */
  preInit?: (ctx: HookContext & { bootstrap: boolean; config: Record<string, string> }) => unknown;
  /** After a bootstrap has completed; throwing undoes the bootstrap. */
  postBootstrap?: (ctx: HookContext & { config: Record<string, string> }) => unknown;
  /** On every daemon start, before it reports itself started; throwing stops the daemon. */
  onStart?: (ctx: HookContext) => unknown;
}

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
