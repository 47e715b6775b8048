/**
 * How a member table entry is passed on: the update that re-gossips its claim, and the entry of
 * a full state (push-pull) that carries it, each with the signature it holds.
 *
 * @module
 */
import type { MemberEntry } from "./members.ts";
import type { MemberUpdate, StateEntry, WireMeta } from "./messages.ts";

/** The `alive` update that passes on `entry`'s current claim. */
export function aliveUpdateOf(entry: MemberEntry): MemberUpdate {
  const u: { k: "alive"; n: string; i: number; m: WireMeta; sg?: string; sb?: string } = {
    k: "alive",
    n: entry.name,
    i: entry.incarnation,
    m: entry.wire,
  };
  if (entry.sig !== undefined) u.sg = entry.sig;
  if (entry.signer !== undefined) u.sb = entry.signer;
  return u;
}

/** The `left` update that passes on `entry`'s leave. */
export function leftUpdateOf(entry: MemberEntry): MemberUpdate {
  return entry.sig === undefined
    ? { k: "left", n: entry.name, i: entry.incarnation, m: entry.wire }
    : { k: "left", n: entry.name, i: entry.incarnation, m: entry.wire, sg: entry.sig };
}

/** `e`'s entry in a full state: its state, incarnation, metadata and the signature it holds. */
export function stateEntryOf(e: MemberEntry): StateEntry {
  return e.sig === undefined
    ? { k: e.state, n: e.name, i: e.incarnation, m: e.wire }
    : e.signer === undefined
    ? { k: e.state, n: e.name, i: e.incarnation, m: e.wire, sg: e.sig }
    : { k: e.state, n: e.name, i: e.incarnation, m: e.wire, sg: e.sig, sb: e.signer };
}
