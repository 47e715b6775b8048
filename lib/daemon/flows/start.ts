/**
 * What a member does as it opens, decided from its state directory (see `order.ts` for why each
 * case is safe): finish a leave cut short, undo a join cut short, remove what an initialisation
 * cut short left behind, or clear the mark of a change that had committed. Runs before anyone
 * can ask the member anything.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { listMembers } from "../../store/members.ts";
import { loadRecords } from "../../store/records.ts";
import type { MemberContext } from "../context.ts";
import { clearTransition, readTransition } from "../transition.ts";
import { resumeJoinUndo } from "./join.ts";
import { resumeLeave } from "./leave.ts";
import { clearLeftovers } from "./wipe.ts";

/** Finishes or undoes what a crash cut short; see the module docs. */
export async function recoverAtStart(ctx: MemberContext): Promise<void> {
  const t = readTransition(ctx.paths);
  if (ctx.machine.is("removed")) {
    await resumeLeave(ctx);
    ctx.machine.to("uninitialized", "finished a leave cut short");
  } else if (!ctx.config && t?.step === "join") {
    await resumeJoinUndo(ctx);
  } else if (!ctx.config && await hasLeftovers(ctx)) {
    ctx.logger.warn("Removing what an initialisation cut short left behind");
    await clearLeftovers(ctx);
  } else if (ctx.config && t) {
    await clearTransition(ctx.paths); // the change had committed before the crash
  }
}

/** Whether an uninitialised member holds cluster state (an initialisation cut short). */
async function hasLeftovers(ctx: MemberContext): Promise<boolean> {
  const kept = ["cluster.crt", "cluster.key", "join_view.json"];
  if (kept.some((f) => existsSync(join(ctx.paths.dir, f)))) return true;
  const [records, members] = await Promise.all([loadRecords(ctx.store, 0), listMembers(ctx.store)]);
  return records.length > 0 || members.length > 0;
}
