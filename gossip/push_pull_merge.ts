/**
 * Taking in what a push-pull carries: its records first (evidence a member claim may need),
 * then the extension lists its members run, then the member state; and, after a merge that
 * shows a healed partition, telling the members held dead so that they refute at once.
 *
 * Separate from the exchanges themselves (push_pull.ts, push_pull_answers.ts): every way state
 * arrives (an answer, an opening, a one-way push, the state an admitting member handed a
 * joiner) goes through this one merge.
 *
 * @module
 */
import { extensionDigest } from "../lib/cluster/extensions.ts";
import type { EngineHost } from "./host.ts";
import type { PushPullMsg, StateEntry } from "./messages.ts";
import type { RecordTable } from "./records.ts";
import type { TryLimit } from "./try_limit.ts";

/** What merging needs from the engine. */
export interface MergeHost extends EngineHost {
  /** A list arrived with a push-pull: a fetch of it under way can stop. */
  learned(digest: string): void;
}

/** Options of {@link mergePushPull}. */
export interface MergeOptions {
  /** Gossip none of the member state or records (a joiner's starting view is news to nobody). */
  readonly quiet?: boolean;
  /**
   * The state an admitting member handed us: its records and member claims are taken as that
   * member holds them (`Trust.recordProblem`), not checked one by one (a joiner would otherwise
   * verify a signature per member: ≈ 0.1 s of CPU for 1000 members under Node, ≈ 0.9 s under
   * Deno).
   */
  readonly trusted?: boolean;
  /** The member the transport authenticated for the frame. */
  readonly sender?: string;
}

/**
 * Merges a push-pull's records, lists and state into `h`'s tables (records first: evidence
 * claims may need). A list is learned only when a member runs it (in the table or in this
 * state), so a peer cannot fill the lists with ones nobody runs. `told`: the members held dead
 * already told so (see {@link noticeHeldDead}).
 */
export function mergePushPull(
  h: MergeHost,
  records: RecordTable,
  told: TryLimit,
  msg: PushPullMsg,
  options: MergeOptions = {},
): void {
  if (msg.rc) {
    records.receiveAll(msg.rc, msg.f, options.trusted === true, options.quiet === true);
  }
  if (msg.x) {
    const used = new Set<string>();
    for (const e of msg.st ?? []) used.add(e.m.ed);
    const table = h.state.table;
    for (let i = 0; i < table.slots; i++) {
      const e = table.at(i);
      if (e) used.add(e.wire.ed);
    }
    for (const d in msg.x) {
      if (h.state.extensions.lists.has(d) || !used.has(d)) continue;
      const list = msg.x[d];
      if (extensionDigest(list) !== d) {
        h.logger.warn("Dropping an extension list that does not match its digest", {
          digest: d,
          from: msg.f,
        });
        continue;
      }
      h.state.extensions.learn(d, list);
      h.learned(d);
    }
  }
  if (msg.st) {
    if (options.quiet) h.state.mergeQuietly(msg.st, options.sender, options.trusted);
    else {
      h.state.merge(msg.st, options.sender);
      noticeHeldDead(h, told, msg.st);
    }
  }
}

/**
 * Members the peer holds alive at the incarnation at which this member holds them dead: a
 * verdict from the other side of a partition that healed. Their `alive` cannot out-bid it, and
 * nobody else sends it to them any more (it was gossiped while they could not hear it): each
 * is sent it directly, so it refutes within a round trip rather than when it next happens to
 * talk to this member (up to a whole probe cycle). One small frame per member, at most one per
 * member per request timeout (`told`); a full exchange with each would cost O(N) each after a
 * heal.
 */
function noticeHeldDead(h: EngineHost, told: TryLimit, entries: readonly StateEntry[]): void {
  const now = h.clock.now();
  for (const e of entries) {
    if (e.k !== "alive" || e.n === h.name) continue;
    const cur = h.state.table.get(e.n);
    if (cur?.state !== "dead" || cur.incarnation !== e.i) continue;
    if (!told.mayTry(cur.name, now)) continue;
    h.logger.debug("A member held dead is alive to a peer: telling it", { member: cur.name });
    h.send(cur.address, {
      t: "gossip",
      f: h.name,
      pb: [{ k: "dead", n: cur.name, i: cur.incarnation, by: h.name }],
    });
  }
}
