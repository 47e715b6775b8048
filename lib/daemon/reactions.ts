/**
 * A member's own reactions to a change of its view: the last of the view's consumers (after
 * roles, the gate and persistence, see `network.ts`). Its own tombstone stops it serving at once
 * and starts its reset; a completed join runs `onNewMember`, a removal `postRemove` (told whether
 * this member forced it); a member ahead schedules the update command; the extensions common to
 * every live member are tracked, and their growth announced.
 *
 * @module
 */
import type { MemberContext } from "./context.ts";
import { learnRemoved } from "./flows/leave.ts";
import { extensionsReport, UpdateTrigger } from "./upgrade.ts";
import type { ViewChange } from "./view.ts";

/** The reactions of one member; see the module docs. */
export class ViewReactions {
  readonly #ctx: MemberContext;
  readonly #trigger: UpdateTrigger;
  /** Names this member removes with force, until their tombstone is written. */
  readonly forcing = new Set<string>();
  #common: string[] = [];

  constructor(ctx: MemberContext) {
    this.#ctx = ctx;
    this.#trigger = new UpdateTrigger({
      command: ctx.options.updateCommand,
      maxDelayMs: ctx.options.updateMaxDelayMs,
      logger: ctx.logger.child({ component: "upgrade" }),
      background: ctx.background,
      random: ctx.env.random,
    });
  }

  /** Reacts to one change; see the module docs. */
  onChange(change: ViewChange): void {
    const ctx = this.#ctx;
    const net = ctx.network;
    if (!net) return;
    if (change.kind === "record") {
      if (change.selfRemoved) return learnRemoved(ctx, "own tombstone");
      const joined = change.joined;
      if (joined && joined !== net.config.name && ctx.machine.is("online")) {
        void ctx.background.run(
          "Hook onNewMember",
          () => ctx.hook("onNewMember", { name: joined }),
        );
      }
      if (change.removed?.hadJoined) {
        const { name } = change.removed;
        const force = this.forcing.has(name);
        void ctx.background.run("Hook postRemove", () => ctx.hook("postRemove", { name, force }));
      }
    }
    this.#trigger.check(net.view);
    const common = extensionsReport(net.view).cluster;
    const previous = this.#common;
    this.#common = common;
    if (common.length > previous.length && previous.length) {
      ctx.logger.info("The extensions common to every live member grew", {
        added: common.slice(previous.length),
        count: common.length,
      });
      ctx.events.emit("cluster-extensions", { extensions: common, previous });
    }
  }

  /** Cancels the scheduled update command runs. */
  stop(): void {
    this.#trigger.stop();
  }
}
