/**
 * The wire protocol: message and update shapes and their bounds. Frames are JSON objects with
 * short keys (idle traffic is mostly pings and acks, so every byte counts). Validation is
 * `message_decode.ts`; metadata's wire form `wire_meta.ts`; an update's size `update_size.ts`.
 *
 * @module
 */
import type { MemberState } from "../lib/cluster/membership.ts";
import type { ReplicatedRecord } from "../lib/cluster/replicated_record.ts";

/** Member metadata on the wire (short keys; the extension list itself is never included). */
export interface WireMeta {
  /** address */ readonly a: string;
  /** certificate fingerprint */ readonly fp: string;
  /** role */ readonly r: string;
  /** schema internal version */ readonly si: number;
  /** schema external version */ readonly se: number;
  /** app version */ readonly v: string;
  /** extension count */ readonly ec: number;
  /** extension digest */ readonly ed: string;
}

/**
 * The largest incarnation accepted (2^48). Only a member itself raises its incarnation, one step
 * per refutation or metadata change: at a thousand steps a second it would take 8 900 years to
 * get here, and `+1` from here stays an exact integer.
 */
export const MAX_INCARNATION = 2 ** 48;
/** The largest schema version accepted (a count of migrations). */
export const MAX_SCHEMA_VERSION = 2 ** 31 - 1;

/**
 * A gossiped state update about one member (a "broadcast").
 *
 * `alive` and `left` are the member's own claims (see `lib/cluster/trust.ts`): `sg` is the
 * signature of {@link claimPayload} by the member, or by `sb`, the member that admitted it,
 * vouching for its starting metadata at incarnation 0. A claim without `sg` is accepted only
 * first-hand, on the member's own connection. `suspect` and `dead` are accusations anyone may
 * make.
 */
export type MemberUpdate =
  | {
    readonly k: "alive";
    readonly n: string;
    readonly i: number;
    readonly m: WireMeta;
    readonly sg?: string;
    readonly sb?: string;
  }
  | { readonly k: "suspect"; readonly n: string; readonly i: number; readonly by: string }
  | { readonly k: "dead"; readonly n: string; readonly i: number; readonly by: string }
  | {
    readonly k: "left";
    readonly n: string;
    readonly i: number;
    readonly m?: WireMeta;
    readonly sg?: string;
  };

/**
 * A gossiped replicated record. Frame validation does not look at `r`: the record is validated
 * where it is merged, so one bad record is dropped alone, not with its frame.
 */
export interface RecordUpdate {
  readonly k: "rec";
  readonly r: ReplicatedRecord;
}

/** A gossiped update: about a member, or a replicated record. */
export type Update = MemberUpdate | RecordUpdate;

/**
 * One member's full state in a push-pull exchange. `sg`/`sb`: the signature of the member's last
 * claim (its `left` when `k` is `left`, else its `alive`), as in {@link MemberUpdate}.
 */
export interface StateEntry {
  readonly k: MemberState;
  readonly n: string;
  readonly i: number;
  readonly m: WireMeta;
  readonly sg?: string;
  readonly sb?: string;
}

/** Direct probe. `n` names the intended target so a reused address does not ack by mistake. */
export interface PingMsg {
  readonly t: "ping";
  readonly f: string;
  readonly s: number;
  readonly n: string;
  readonly pb?: readonly Update[];
}
/** Answer to a ping (or a relayed answer to a ping-req, with the requester's sequence). */
export interface AckMsg {
  readonly t: "ack";
  readonly f: string;
  readonly s: number;
  readonly pb?: readonly Update[];
}
/** A relay's "I could not reach the target" (`r`: the target refused the connection). */
export interface NackMsg {
  readonly t: "nack";
  readonly f: string;
  readonly s: number;
  readonly r?: boolean;
}
/** Indirect probe request: probe member `n` at address `a` for me. */
export interface PingReqMsg {
  readonly t: "preq";
  readonly f: string;
  readonly s: number;
  readonly n: string;
  readonly a: string;
  readonly pb?: readonly Update[];
}
/**
 * Dedicated gossip message carrying only updates. `a`: an announcement, sent at once to every
 * live member (see `dissemination.ts`); members before it ignore the field.
 */
export interface GossipMsg {
  readonly t: "gossip";
  readonly f: string;
  readonly pb: readonly Update[];
  readonly a?: true;
}
/**
 * State exchange (anti-entropy). `j`: sent on join; `r`: this is the reply. `x` maps
 * extension digests to their lists, deduplicated, so a joiner learns every list at once.
 *
 * A join ships the full member state both ways. A periodic exchange sends only the digest of
 * the sender's member table (`sh`): equal tables answer with the digest alone, so an idle
 * cluster's anti-entropy costs two short frames instead of two copies of the whole table; a
 * different table answers with its full state and `sw`, and the initiator then pushes its own
 * full state one way (`o`).
 */
export interface PushPullMsg {
  readonly t: "pp";
  readonly f: string;
  readonly s: number;
  readonly j?: boolean;
  readonly r?: boolean;
  /** The sender's full member state; absent in a digest-only exchange. */
  readonly st?: readonly StateEntry[];
  /** Digest of the sender's member table: name, state, incarnation and metadata of each. */
  readonly sh?: string;
  /** In an answer: the member tables differ, push me your full state. */
  readonly sw?: boolean;
  /** One-way push of full state (the answer to `sw`): merge, do not answer. */
  readonly o?: boolean;
  readonly x?: Readonly<Record<string, readonly string[]>>;
  /** Every replicated record the sender holds (absent when none); validated on merge. */
  readonly rc?: readonly ReplicatedRecord[];
  /**
   * Digest of the sender's record table (kind, key, version, origin of each record). A periodic
   * push-pull sends it instead of `rc`, and the answer carries `rc` only when the digests differ,
   * so an idle cluster does not ship every record (certificates included) every interval.
   */
  readonly rh?: string;
  /** In an answer: the digests differed, send me your records. */
  readonly rw?: boolean;
}
/** Request for the extension list with digest `d`. */
export interface ExtReqMsg {
  readonly t: "extq";
  readonly f: string;
  readonly s: number;
  readonly d: string;
}
/** The extension list for digest `d` (`l` absent when the sender no longer has it). */
export interface ExtMsg {
  readonly t: "ext";
  readonly f: string;
  readonly s: number;
  readonly d: string;
  readonly l?: readonly string[];
}

/** Every message of the protocol. */
export type Message =
  | PingMsg
  | AckMsg
  | NackMsg
  | PingReqMsg
  | GossipMsg
  | PushPullMsg
  | ExtReqMsg
  | ExtMsg;

/**
 * Limits enforced on inbound frames. A sender never exceeds them: it splits what is larger
 * ({@link CHUNK_CHARS}), so a frame beyond them is malformed and dropped whole.
 */
export const LIMITS: Readonly<{
  frameChars: number;
  name: number;
  short: number;
  signature: number;
  updates: number;
  state: number;
  extensions: number;
  listChars: number;
  lists: number;
  records: number;
}> = Object.freeze({
  /** Largest JSON text accepted (chars): four chunks. */
  frameChars: 4 * 1024 * 1024,
  /** Longest member name, address or digest. */
  name: 256,
  /** Longest role, app version or certificate fingerprint. */
  short: 128,
  /** Longest signature (base64url). */
  signature: 256,
  /** Most updates in one message (a probe carries a few dozen, a record batch a few hundred). */
  updates: 1024,
  /** Most members in one push-pull message (a member's initial state holds every member). */
  state: 16_384,
  /** Most names in one extension list. */
  extensions: 10_000,
  /** Longest extension list, in chars of its names together. */
  listChars: 256 * 1024,
  /** Most extension lists in one push-pull message. */
  lists: 64,
  /** Most replicated records in one message (a member's initial state holds every record). */
  records: 16_384,
});

/**
 * Largest share of a frame (UTF-8 bytes of JSON, as `updateSize` counts them) that full
 * state or records fill before the rest goes in another frame. One item larger than this
 * travels alone: the largest is an extension list at its bounds ({@link LIMITS}: 256 Ki chars
 * of ASCII names and 3 per name of quotes and commas, some 292 000 bytes).
 */
export const CHUNK_CHARS = 256 * 1024;

/**
 * The largest gossip frame a member sends or accepts, in bytes (the WebSocket transport's
 * default `maxFrameBytes`): a {@link CHUNK_CHARS} chunk or the largest single item, with its
 * message's own fields, and room to spare. One frame is parsed in one go, whatever the
 * sender's budgets: a frame of dense JSON (`[{},{},…]`) of 1 MiB took 48 ms (median; 86 ms at
 * most) to decode at load 20, one of 384 KiB 5.5 ms (11 ms): the parse's garbage outgrows the
 * young generation superlinearly (`scripts/bench/frame_parse.ts`).
 */
export const MAX_FRAME_BYTES = 384 * 1024;

/**
 * The largest gossip frame a member accepts on a connection whose dialler did not ask for our
 * link proof (`link_proof.ts`): a member of a release before it, which chunks state by JSON
 * chars ({@link CHUNK_CHARS} of them, up to 3 UTF-8 bytes each) and so sends frames of up to
 * some 770 KiB when records or names are non-ASCII; refused, its full-state exchanges never
 * reach upgraded members during a rolling upgrade. Dialling without the proof also lets a
 * hostile certificate send frames this large, as any member could before: a frame of dense
 * JSON of this size took 9.8–34 ms to decode (median; 15–76 ms at most), one of
 * {@link MAX_FRAME_BYTES} 5.2–5.4 ms (8.0–8.3), Node at load 19 (Deno: 10.4 and 3.8 ms;
 * `scripts/bench/frame_parse.ts`); how many a sender gets decoded is still bounded by its
 * handling budget.
 */
export const LEGACY_MAX_FRAME_BYTES = 3 * CHUNK_CHARS + 32 * 1024;
