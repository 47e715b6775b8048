/**
 * A member's own reactions to a change of its view: the last of the view's consumers (after
 * roles, the gate and persistence, see `network.ts`). Its own tombstone stops it serving at once
 * and starts its reset; a completed join runs `onNewMember`, a removal `postRemove` (told whether
 * it was forced by the removal note written just before the tombstone; a tombstone that arrives
 * before its note waits for it up to {@link NOTE_WAIT_MS}, then counts as not forced); a member ahead schedules the update command; the extensions common to
 * every member are tracked, and their growth announced.
 *
 * @module
 */
import { REMOVAL_RECORD } from "../cluster/roster.ts";
import type { Cancel } from "./background.ts";
import type { MemberContext } from "./context.ts";
import { learnRemoved } from "./flows/leave.ts";
import { extensionsReport, UpdateTrigger } from "./upgrade.ts";
import type { ViewChange } from "./view.ts";

/** How long a tombstone waits for its removal note (gossiped just before it), ms. */
export const NOTE_WAIT_MS = 3_000;

/** The reactions of one member; see the module docs. */
export class ViewReactions {
  readonly #ctx: MemberContext;
  readonly #trigger: UpdateTrigger;
  /** Names this member removes with force, until their tombstone is written. */
  readonly forcing = new Set<string>();
  #common: string[] = [];
  /** Removed members whose `postRemove` waits for the removal note, and the timeout. */
  readonly #awaitingNote = new Map<string, Cancel>();

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
      // A new incarnation of a removed member: its removal first, then its join.
      if (change.removed?.hadJoined) this.#removed(change.removed.name);
      const joined = change.joined;
      if (joined && joined !== net.config.name && ctx.machine.is("online")) {
        void ctx.background.run(
          "Hook onNewMember",
          () => ctx.hook("onNewMember", { name: joined }),
        );
      }
      if (change.record.kind === REMOVAL_RECORD && change.record.value !== null) {
        const waiting = this.#awaitingNote.get(change.record.key);
        if (waiting) this.#postRemove(change.record.key, this.#noteSaysForced(change.record.key));
      }
    }
    this.#trigger.check(net.view);
    const common = extensionsReport(net.view, {
      now: ctx.env.clock.now(), // the monotonic clock, as the view's down-since times
      deadGraceMs: ctx.options.upgradeDeadGraceMs,
    }).cluster;
    const previous = this.#common;
    this.#common = common;
    if (common.length > previous.length && previous.length) {
      ctx.logger.info("The extensions common to every member grew", {
        added: common.slice(previous.length),
        count: common.length,
      });
      ctx.events.emit("cluster-extensions", { extensions: common, previous });
    }
  }

  /** Cancels the scheduled update command runs and the waits for removal notes. */
  stop(): void {
    this.#trigger.stop();
    for (const cancel of this.#awaitingNote.values()) cancel();
    this.#awaitingNote.clear();
  }

  /** A member that had joined was removed: `postRemove` once its note says whether forced. */
  #removed(name: string): void {
    const forced = this.forcing.has(name) || this.#noteSaysForced(name);
    if (forced !== undefined) return this.#postRemove(name, forced);
    if (this.#awaitingNote.has(name)) return;
    this.#awaitingNote.set(
      name,
      this.#ctx.background.after("Waiting for the removal note", NOTE_WAIT_MS, () => {
        if (this.#awaitingNote.has(name)) this.#postRemove(name, false);
      }),
    );
  }

  /** The removal note's `force` for `name`, `undefined` when no note is held. */
  #noteSaysForced(name: string): boolean | undefined {
    const note = this.#ctx.network?.gossip.record(REMOVAL_RECORD, name)?.value as
      | { force?: unknown }
      | null
      | undefined;
    return typeof note?.force === "boolean" ? note.force : undefined;
  }

  #postRemove(name: string, force: boolean | undefined): void {
    this.#awaitingNote.get(name)?.();
    this.#awaitingNote.delete(name);
    const ctx = this.#ctx;
    void ctx.background.run(
      "Hook postRemove",
      () => ctx.hook("postRemove", { name, force: force ?? false }),
    );
  }
}
