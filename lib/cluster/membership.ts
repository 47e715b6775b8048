/**
 * What the rest of cohort reads from the gossip layer, without importing `gossip/`: member
 * states and metadata, the {@link MembershipView} with its events and extension verdicts, and
 * the components the engine is built from ({@link Transport}, {@link Clock}, {@link Random}).
 *
 * Types and tiny pure helpers only. The engine lives in `gossip/`; routes and daemon code
 * depend on this file so that a test can hand them any view (a fake, a simulated cluster).
 *
 * @module
 */
import { compareExtensions } from "./extensions.ts";
import type { ExtensionComparison, Verdict } from "./extensions.ts";

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

// ---------------------------------------------------------------------------------------------
// Replicated records: a small last-writer-wins map every member converges on without a leader.

/** A JSON value, as carried by a {@link ReplicatedRecord}. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/**
 * One entry of the cluster-wide last-writer-wins map, identified by `kind` + `key` (e.g. a
 * join-token record, its single-use tombstone, a "member removed" tombstone). Immutable: a
 * change is a new record with a higher version. Records are meant to be few (tens to
 * hundreds) and small: every push-pull carries all of them.
 */
export interface ReplicatedRecord {
  /** The record family (`"token"`, `"removed"`, …): 1 to {@link RECORD_LIMITS}`.kind` chars. */
  readonly kind: string;
  /** The key within the family: 1 to {@link RECORD_LIMITS}`.key` chars. */
  readonly key: string;
  /**
   * The value; `null` is a tombstone (deleted, consumed, removed), kept and gossiped like a value
   * so that an older version cannot come back. At most {@link RECORD_LIMITS}`.valueChars` chars
   * of JSON.
   */
  readonly value: JsonValue | null;
  /** The writer's clock (ms) at the write, raised above the version it replaced. */
  readonly version: number;
  /** The writer's member name. */
  readonly origin: string;
  /**
   * When (clock ms) every member drops the record, tombstones included; absent: never.
   * Compared with each member's own clock, so clocks must be roughly in sync.
   */
  readonly expiresAt?: number;
}

/**
 * How long a tombstone written without an expiry (a removed member's roster record) is kept
 * after its version, ms (30 days, as a revoked token's): past it every member forgets the
 * removal (`gossip/records.ts`, the store), so that what a cluster holds grows with its size
 * and recent changes, not with every removal it ever made. A member record first heard of
 * later than that after its admission is refused (`roster_rules.ts`): it can only be a
 * removed incarnation brought back by a member that was away all that time.
 */
export const TOMBSTONE_LAPSE_MS = 30 * 86_400_000;

/**
 * When `r` stops being held (ms, the wall clock): its expiry, or for a tombstone written without
 * one (a removed member's roster record), {@link TOMBSTONE_LAPSE_MS} after its version; each
 * member forgets it by its own clock, so the wire is unchanged. `undefined`: never.
 */
export function lapsesAt(
  r: { readonly value: unknown; readonly version: number; readonly expiresAt?: number | null },
): number | undefined {
  if (r.expiresAt !== undefined && r.expiresAt !== null) return r.expiresAt;
  return r.value === null ? r.version + TOMBSTONE_LAPSE_MS : undefined;
}

/** Size limits of a {@link ReplicatedRecord}, enforced on local writes and on the wire. */
export const RECORD_LIMITS: Readonly<{ kind: number; key: number; valueChars: number }> = Object
  .freeze({
    /** Longest `kind` (chars). */
    kind: 64,
    /** Longest `key` (chars): a member name fits. */
    key: 256,
    /**
     * Longest `value` as JSON text (chars): room for a certificate PEM. A record larger than the
     * message budget travels alone in dedicated gossip messages, never on probes.
     */
    valueChars: 4096,
  });

/**
 * What {@link RecordStore.setRecord} takes: a {@link JsonValue}, or a plain object typed by an
 * interface (TypeScript gives interfaces no index signature, so they are not `JsonValue`s);
 * either is checked at run time and stored as a frozen deep copy.
 */
export type RecordInput = JsonValue | Readonly<Record<string, unknown>>;

/** Payload of `record-change`. */
export interface RecordChangeEvent {
  /** The record now held (its `value` is `null` for a tombstone). */
  readonly record: ReplicatedRecord;
  /** The record it replaced; `undefined` when none was held (or it had expired). */
  readonly previous: ReplicatedRecord | undefined;
}

/** Options of {@link RecordStore.setRecord}. */
export interface SetRecordOptions {
  /**
   * Expiry (clock ms). Default: none for a value; for a tombstone, the expiry of the record it
   * replaces, so that the tombstone lives exactly as long as anything it must suppress.
   */
  readonly expiresAt?: number;
  /**
   * Expiry as a lifetime (ms after the record's version), in place of `expiresAt`. Where the
   * cluster bounds a record's expiry by its version (a removal note, an app tombstone), the two
   * must be dated on one clock, the record table's: a date the caller read from another clock
   * (the daemon's wall clock is not the engine's to the ms) lands past the bound whenever that
   * clock is ahead, and every other member refuses the record.
   */
  readonly lifetimeMs?: number;
}

/**
 * The cluster-wide last-writer-wins record map. Merge rule ({@link compareRecords}): the higher
 * `version` wins; on a tie a tombstone wins; then the higher `origin`; so every member converges
 * on the same record whatever order writes arrive in. Reads never return expired records.
 */
export interface RecordStore {
  /**
   * Writes a record locally (version `max(now, current version + 1)`, so it supersedes what
   * this member has seen), emits `record-change` and gossips it. `value` `null` writes a
   * tombstone. Returns the record written.
   *
   * @throws {InvalidInputError} for an empty or too long kind or key, a value that is not JSON
   *   or is larger than {@link RECORD_LIMITS}`.valueChars`, or a bad `expiresAt`.
   */
  setRecord(
    kind: string,
    key: string,
    value: RecordInput | null,
    options?: SetRecordOptions,
  ): ReplicatedRecord;
  /** The current record (tombstones included), or `undefined` when unknown or expired. */
  record(kind: string, key: string): ReplicatedRecord | undefined;
  /** Every current record of a kind (tombstones included, expired ones not), in no order. */
  records(kind: string): ReplicatedRecord[];
}

/**
 * Orders two versions of the same record: positive when `a` wins, negative when `b` wins, `0`
 * when they are the same. Higher `version` wins; on a tie a tombstone wins; then the higher
 * `origin`; then (only a misbehaving writer reuses a version) the larger JSON of value and
 * expiry, so the order is total and every member picks the same winner.
 */
export function compareRecords(a: ReplicatedRecord, b: ReplicatedRecord): number {
  if (a.version !== b.version) return a.version > b.version ? 1 : -1;
  const aDead = a.value === null;
  if (aDead !== (b.value === null)) return aDead ? 1 : -1;
  if (a.origin !== b.origin) return a.origin > b.origin ? 1 : -1;
  if (a === b) return 0;
  // The same record received again (every update arrives several times): told apart without
  // serialising both values, which cost more than the rest of the receive path.
  if ((a.expiresAt ?? null) === (b.expiresAt ?? null) && sameJson(a.value, b.value)) return 0;
  const x = JSON.stringify([a.value, a.expiresAt ?? null]);
  const y = JSON.stringify([b.value, b.expiresAt ?? null]);
  return x === y ? 0 : x > y ? 1 : -1;
}

/**
 * Whether two JSON values have the same JSON text (object keys compared in order, as
 * `JSON.stringify` writes them), without building it. `b` bounds the depth: it is a value held.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i];
    if (k !== kb[i]) return false;
    if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) {
      return false;
    }
  }
  return true;
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

// ---------------------------------------------------------------------------------------------
// Components injected into the engine.

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * Time source and timers. The engine never reads `Date.now` or calls `setTimeout` itself, so a
 * simulated clock can drive many members deterministically.
 */
export interface Clock {
  /**
   * Current time in milliseconds, for durations and deadlines: monotonic (a step of the wall
   * clock must not move it, or a suspicion held when the clock stepped forwards is declared
   * dead at once), near the epoch's ms when {@link wallOffset} is absent.
   */
  now(): number;
  /**
   * How far the wall clock is ahead of {@link now}, ms: `now() + wallOffset()` is the wall
   * clock's time (ms since the epoch), where a date is meant: replicated records' versions and
   * expiry, the heartbeats and state changes a member reports. Changes only when the wall clock
   * steps, so a time reported twice is the same date twice. Absent: {@link now} is both (a
   * simulated clock, or {@link systemClock}, which is the wall clock).
   */
  wallOffset?(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a no-op for a timer that fired or was cancelled. */
  clearTimeout(handle: TimerHandle): void;
}

/** A seeded pseudo-random source. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
}

/**
 * `clock`'s time `t` (its {@link Clock.now}) as a date of its wall clock: the same when the clock
 * has no separate wall clock, else `t` moved by how far the wall clock is from it now (after a
 * step of the wall clock, a time before the step is dated as long before the wall clock's now
 * as it really was). `0` (never) stays `0`.
 */
export function wallTime(clock: Clock, t: number): number {
  return clock.wallOffset && t !== 0 ? t + clock.wallOffset() : t;
}

/**
 * `clock`'s wall clock now, ms since the epoch: where a date is meant (a token's expiry, a
 * member's `joinedAt`, a removal note's `expiresAt`, anything stored or sent to another member).
 * {@link Clock.now} itself when the clock has no separate wall clock (a simulated one).
 */
export function wallNow(clock: Clock): number {
  return clock.wallOffset ? clock.now() + clock.wallOffset() : clock.now();
}

/** `clock` reading its wall clock as `now` (itself when it has none), timers unchanged. */
export function wallClockOf(clock: Clock): Clock {
  if (!clock.wallOffset) return clock;
  return {
    now: () => clock.now() + clock.wallOffset!(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h),
  };
}

/**
 * The wall clock: `Date.now` and the runtime's timers, unref'd so they never keep a process up.
 * A step of the wall clock (NTP, `date -s`, a VM resumed) moves what is measured on it: the
 * gossip engine runs on `gossip/io_first_clock.ts` and a daemon on `monotonicClock`
 * (`lib/cluster/monotonic_clock.ts`), whose `now` is monotonic.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms) as unknown as { unref?: () => void };
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * A frame the engine hands to a transport: a JSON-compatible object. A transport that crosses
 * a process boundary encodes it (JSON text); an in-process transport may pass the object
 * itself. Inbound, the engine accepts the object, JSON text, or UTF-8 bytes of JSON text and
 * validates whatever arrives, so a transport never needs to understand the protocol.
 */
export type Frame = string | Uint8Array | object;

/** Per-send hints. */
export interface SendOptions {
  /**
   * The frame carries state that should not be dropped under back-pressure (push-pull, leave).
   * Without it a transport under pressure may drop the frame. @default false
   */
  readonly reliable?: boolean;
}

/** What a transport calls back into. */
export interface TransportHandlers {
  /**
   * A frame arrived. `from` is the sender's listening address (where a reply should go), as
   * established by the transport (for WebSockets: the address the authenticated peer
   * advertised). `peer` is the sender's identity as the transport authenticated it (for
   * WebSockets: the fingerprint of its client certificate), absent when the transport does not
   * authenticate senders; the engine maps it to a member name (`Trust.nameOf`) to tell a
   * member's first-hand claims from relayed ones.
   */
  message(from: string, frame: Frame, peer?: string): void;
  /**
   * Positive evidence that nothing listens at `to` any more (a refused connection). Only report
   * refusals: a silent timeout must stay silent so that the full suspicion path applies.
   */
  refused(to: string): void;
}

/**
 * The engine's only way to reach other members: best-effort, message-oriented, unordered.
 * Request/response (acks, push-pull, extension fetch) is built by the engine on top of it with
 * sequence numbers, so a transport needs no streams.
 */
export interface Transport {
  /** The local listening address others use to reach this member. */
  readonly address: string;
  /** Sends a frame. Never throws and never blocks; failures are dropped (or `refused`). */
  send(to: string, frame: Frame, options?: SendOptions): void;
  /** Installs the inbound handlers (replacing previous ones). */
  listen(handlers: TransportHandlers): void;
  /** Stops receiving and sending; later sends are dropped silently. */
  close(): Promise<void>;
  /**
   * The next frame to `to` must not go over a connection held from before: the member there
   * was unreachable, and a connection that outlived a partition may still look open while
   * what is written on it goes nowhere. Transports without connections leave it out.
   */
  redial?(to: string): void;
}
