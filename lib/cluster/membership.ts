/**
 * What the rest of cohort reads of the membership from the gossip layer, without importing
 * `gossip/`: member states and metadata, the {@link MembershipView} with its events and
 * extension verdicts. The engine's other components have their own modules (`clock.ts`,
 * `random.ts`, `transport.ts`), as have the replicated records (`replicated_record.ts`).
 *
 * Types and tiny pure helpers only. The engine lives in `gossip/`; routes and daemon code
 * depend on this file so that a test can hand them any view (a fake, a simulated cluster).
 *
 * @module
 */
import { compareExtensions } from "./extensions.ts";
import type { ExtensionComparison, Verdict } from "./extensions.ts";
import type { RecordChangeEvent } from "./replicated_record.ts";

/**
 * A member's state as one observer sees it.
 *
 * - `alive`: answers probes (or was recently vouched for at its current incarnation).
 * - `suspect`: missed a direct and indirect probe; it has until the suspicion timeout to refute.
 * - `dead`: the suspicion timed out (or a refused connection confirmed a crash). A dead member
 *   that comes back refutes with a higher incarnation.
 * - `left`: the member announced a graceful leave. Never reported as `dead`.
 */
export type MemberState = "alive" | "suspect" | "dead" | "left";

/** Metadata every member gossips about itself. Changing any field bumps its incarnation. */
export interface MemberMeta {
  /** Where the member's transport listens (`host:port` or a transport-specific address). */
  readonly address: string;
  /** Hex SHA-256 fingerprint of the member's TLS certificate (`""` when not known). */
  readonly fingerprint: string;
  /** The member's role (`"voter"`, `"spare"`, an app-defined role, …). */
  readonly role: string;
  /** Version of cohort's own schema (`schema_internal_version`). */
  readonly schemaInternal: number;
  /** Version of the app's schema (`schema_external_version`). */
  readonly schemaExternal: number;
  /** The app's version string. */
  readonly appVersion: string;
  /** Number of API extensions the member runs (its API level). */
  readonly extensionCount: number;
  /** {@link import("./extensions.ts").extensionDigest} of the member's extension list. */
  readonly extensionDigest: string;
  /**
   * The full unified extension list, when known. Gossip carries only the digest and count;
   * the list is fetched once per new digest.
   */
  readonly extensions?: readonly string[];
}

/** A snapshot of one member as seen by the local member. */
export interface MemberInfo {
  /** Unique member name. */
  readonly name: string;
  readonly state: MemberState;
  /** The member's incarnation: bumped by itself on refutation and on every metadata change. */
  readonly incarnation: number;
  readonly meta: MemberMeta;
  /**
   * When (clock ms) the local member last heard from it directly or learnt a newer incarnation
   * of it; `0` when never.
   */
  readonly lastHeartbeat: number;
  /** When (clock ms) its state last changed locally. */
  readonly stateChangedAt: number;
}

/**
 * The extension verdict of one member against the local member: `equal`, `ahead` (they must
 * upgrade), `behind` (we must upgrade), `diverged`, or `unknown` while the member's list for a
 * new digest is still being fetched.
 */
export interface ExtensionStatus {
  readonly verdict: Verdict | "unknown";
  /** The digest the verdict is about. */
  readonly digest: string;
  /** Their extension count. */
  readonly count: number;
  /** The full comparison (names missing and extra) once the list is known. */
  readonly comparison?: ExtensionComparison;
}

/** Payload of the `member-*` events. */
export interface MemberEvent {
  readonly member: MemberInfo;
  /** The state before the change (`undefined` for a member seen for the first time). */
  readonly previous: MemberState | undefined;
}

/** Payload of `extensions-mismatch`: a live member's list differs from ours. */
export interface ExtensionsMismatchEvent {
  readonly member: MemberInfo;
  readonly status: ExtensionStatus;
}

/** Payload of `extensions-converged`: every live member with a known list now equals ours. */
export interface ExtensionsConvergedEvent {
  /** Number of live members (alive or suspect, the local one included). */
  readonly members: number;
}

/** Events a {@link MembershipView} emits, by name. */
export interface MembershipEvents {
  /** A member was seen alive for the first time, or came back after `dead`/`left`. */
  "member-join": MemberEvent;
  /**
   * An alive member's metadata changed, a suspect member refuted, or a member held down (`dead`
   * or `left`) is known with newer metadata (a later run of it, learnt from the others).
   */
  "member-update": MemberEvent;
  "member-suspect": MemberEvent;
  /**
   * A member was declared dead (crash), or a member this one did not hold is learnt to be dead
   * (`previous` undefined: a restarted member hears of the members down from the others).
   */
  "member-failed": MemberEvent;
  /** A member left gracefully (`previous` undefined: learnt from the others, as above). */
  "member-left": MemberEvent;
  "extensions-mismatch": ExtensionsMismatchEvent;
  /** Emitted once when the last mismatch among live members disappears. */
  "extensions-converged": ExtensionsConvergedEvent;
  /**
   * A replicated record changed locally: a local write, or a newer version received from the
   * cluster. Fires once per change; re-deliveries of a known version and expiry purges are
   * silent.
   */
  "record-change": RecordChangeEvent;
}

/** An event name of {@link MembershipEvents}. */
export type MembershipEventName = keyof MembershipEvents;

/**
 * The merged membership as one member sees it. Listeners run synchronously inside the engine;
 * a listener that throws is logged and does not disturb the others. Keep them short.
 */
export interface MembershipView {
  /** The local member's name. */
  readonly localName: string;
  /** Every known member (the local one included), in no particular order. O(N) snapshot. */
  members(): MemberInfo[];
  /** One member, or `undefined` when unknown (never seen, or reaped). */
  member(name: string): MemberInfo | undefined;
  /**
   * When a message from `name` was last heard (ms, the membership clock; 0: never), as
   * {@link MembershipView.member}'s `lastHeartbeat`, without building the member's info (a list
   * request reads every member's); `undefined` when unknown. Optional: a view without it is
   * read through `member`.
   */
  lastHeartbeat?(name: string): number | undefined;
  /** The extension verdict of a member against the local member; `undefined` when unknown. */
  extensionStatus(name: string): ExtensionStatus | undefined;
  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends MembershipEventName>(
    event: E,
    listener: (event: MembershipEvents[E]) => void,
  ): () => void;
}

/** Reports whether a state counts as a live member (probed, gossiped to, part of N). */
export function isLive(state: MemberState): boolean {
  return state === "alive" || state === "suspect";
}

/**
 * Computes a member's extension status against ours. `list` is their full list when known.
 * Equal digests are `equal` without the list (the digest is collision-resistant enough for
 * a compatibility check and saves the fetch).
 */
export function extensionStatusOf(
  localList: readonly string[],
  localDigest: string,
  meta: Pick<MemberMeta, "extensionDigest" | "extensionCount">,
  list: readonly string[] | undefined,
): ExtensionStatus {
  const digest = meta.extensionDigest;
  const count = meta.extensionCount;
  if (digest === localDigest) {
    return {
      verdict: "equal",
      digest,
      count,
      comparison: { verdict: "equal", missing: [], extra: [], firstDifference: -1 },
    };
  }
  if (!list) return { verdict: "unknown", digest, count };
  const comparison = compareExtensions(localList, list);
  return { verdict: comparison.verdict, digest, count, comparison };
}
