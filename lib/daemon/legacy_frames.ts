/**
 * The end of the legacy frame limit. A gossip listener takes frames of up to 800 KiB
 * (`LEGACY_MAX_FRAME_BYTES`) from a dialler that does not ask for its link proof, since members of
 * releases before the proof size state chunks in characters and send frames that large; every
 * holder of a member certificate could send them too, at 10–76 ms of decoding each instead of
 * the 384 KiB of `MAX_FRAME_BYTES`. That cost is kept only while a rolling upgrade needs it:
 * once every member of the roster is known to run {@link LINK_PROOF_EXTENSION}, this switch tells
 * the gossip layer to hold such diallers to `MAX_FRAME_BYTES` (and to cut those it holds).
 *
 * Known means the member's version as the upgrade gate counts it (`ClusterView.versionOf`): its
 * gossiped metadata, or what the store remembers of it. So the switch holds across a restart
 * without waiting on gossip: a member that restarts decides from its store, before its listener
 * reads a frame. A member whose version is not known keeps the legacy limit (fail safe for an
 * upgrade). It re-decides on every change of a member's versions or of the roster until it flips,
 * and then stays for the life of the network: no member without the extension can be counted
 * again. A member of an older release cannot come back, since its own gate refuses its start
 * (the others are ahead, whatever the upgrade policy); a join is admitted only with the
 * admitting member's list, which has the extension once every member has it. (Counted anew, a
 * joiner's versions are unknown for a moment between its roster record and its metadata: a
 * level-triggered switch turned back then, at every join.)
 *
 * @module
 */
import { everyListHas, LINK_PROOF_EXTENSION } from "../cluster/extensions.ts";
import { MEMBER_RECORD } from "../cluster/roster.ts";
import type { Logger } from "../log.ts";
import type { GossipHandle } from "./gossip_port.ts";
import type { ClusterView, ViewChange } from "./view.ts";

/** Member events after which a member's versions may differ. */
const VERSION_EVENTS: ReadonlySet<string> = new Set([
  "member-join",
  "member-update",
  "extensions-mismatch",
  "extensions-converged",
]);

/** Whether `change` may change a member's known versions or the roster. */
function mayChange(change: ViewChange): boolean {
  return change.kind === "record"
    ? change.record.kind === MEMBER_RECORD
    : VERSION_EVENTS.has(change.event);
}

/** The switch of one member's network; see the module docs. */
export class LegacyFrameSwitch {
  readonly #view: ClusterView;
  readonly #gossip: GossipHandle;
  readonly #logger: Logger;
  /** Whether diallers without the link proof are held to `MAX_FRAME_BYTES`. */
  #ended = false;

  constructor(options: { view: ClusterView; gossip: GossipHandle; logger: Logger }) {
    this.#view = options.view;
    this.#gossip = options.gossip;
    this.#logger = options.logger;
  }

  /** Whether every member is known to run the link proof (the legacy limit has ended). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Re-decides from the view as it is now, until the switch has flipped: always without
   * `changes` (at start), otherwise only when one of them may have changed a member's versions
   * or the roster.
   */
  update(changes?: readonly ViewChange[]): void {
    if (this.#ended || (changes && !changes.some(mayChange))) return;
    const view = this.#view;
    const ended = everyListHas(
      LINK_PROOF_EXTENSION,
      (function* () {
        for (const name of view.roster().keys()) yield view.versionOf(name)?.extensions;
      })(),
    );
    if (!ended) return;
    this.#ended = true;
    this.#gossip.legacyFrames?.(false);
    this.#logger.info(
      "Every member runs the gossip link proof: diallers without it are held to the frame limit",
      { extension: LINK_PROOF_EXTENSION },
    );
  }
}
