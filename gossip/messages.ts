/**
 * The wire protocol: message and update shapes, and the cheap structural validation every
 * inbound frame goes through. Frames are JSON objects with short keys (idle traffic is mostly
 * pings and acks, so every byte counts). A malformed frame yields a reason string, never an
 * exception, and never reaches the member table.
 *
 * @module
 */
import type { MemberMeta, MemberState, ReplicatedRecord } from "../lib/cluster/membership.ts";

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
 * Largest share of a frame (UTF-8 bytes of JSON, as {@link updateSize} counts them) that full
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

// Objects already validated (or converted) once: in-process transports hand the same frozen
// update to every receiver, so a 1000-member simulation validates each update once, not 1000×.
const validUpdates = new WeakSet<object>();
const validMetas = new WeakSet<object>();
const metaCache = new WeakMap<WireMeta, MemberMeta>();
const sizeCache = new WeakMap<object, number>();
const decoder = new TextDecoder();

const isStr = (v: unknown, max = LIMITS.name): v is string =>
  typeof v === "string" && v.length <= max;
const isName = (v: unknown): v is string =>
  typeof v === "string" && v.length > 0 && v.length <= LIMITS.name;
const isUint = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isInc = (v: unknown): v is number => isUint(v) && v <= MAX_INCARNATION;
const isSchema = (v: unknown): v is number => isUint(v) && v <= MAX_SCHEMA_VERSION;
// Roles and app versions are printed in tables and logs: printable ASCII, no spaces, 1 to 64.
const LABEL = /^[\x21-\x7e]{1,64}$/;
const isLabel = (v: unknown): v is string => typeof v === "string" && LABEL.test(v);
const isSig = (v: unknown): boolean =>
  v === undefined || (typeof v === "string" && v.length > 0 && v.length <= LIMITS.signature);
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const STATES = new Set<string>(["alive", "suspect", "dead", "left"]);

/** Validates wire metadata. */
export function isWireMeta(v: unknown): v is WireMeta {
  if (!isObj(v)) return false;
  if (validMetas.has(v)) return true;
  const ok = isName(v.a) && isStr(v.fp, LIMITS.short) && isLabel(v.r) && isSchema(v.si) &&
    isSchema(v.se) && (v.v === "" || isLabel(v.v)) && isUint(v.ec) &&
    v.ec <= LIMITS.extensions && isStr(v.ed);
  if (ok) validMetas.add(v);
  return ok;
}

/** Validates one update. */
export function isUpdate(v: unknown): v is Update {
  if (!isObj(v)) return false;
  if (validUpdates.has(v)) return true;
  // The record is validated where it is merged, so a bad one is dropped alone.
  if (v.k === "rec") return true;
  if (!isName(v.n) || !isInc(v.i)) return false;
  let ok: boolean;
  switch (v.k) {
    case "alive":
      ok = isWireMeta(v.m) && isSig(v.sg) && (v.sb === undefined || isName(v.sb));
      break;
    case "suspect":
    case "dead":
      ok = isName(v.by);
      break;
    case "left":
      ok = (v.m === undefined || isWireMeta(v.m)) && isSig(v.sg);
      break;
    default:
      ok = false;
  }
  if (ok) validUpdates.add(v);
  return ok;
}

function checkUpdates(v: unknown, required: boolean): string | undefined {
  if (v === undefined && !required) return undefined;
  if (!Array.isArray(v)) return "pb: expected an array";
  if (v.length > LIMITS.updates) return "pb: too many updates";
  for (let i = 0; i < v.length; i++) if (!isUpdate(v[i])) return `pb.${i}: malformed update`;
  return undefined;
}

/** Validates an extension list received from a peer: an array of short strings, bounded. */
export function isExtensionList(v: unknown): v is string[] {
  if (!Array.isArray(v) || v.length > LIMITS.extensions) return false;
  let chars = 0;
  for (const s of v) {
    if (!isName(s)) return false;
    chars += s.length;
  }
  return chars <= LIMITS.listChars;
}

function checkState(msg: Record<string, unknown>): string | undefined {
  const st = msg.st;
  if (st === undefined) {
    // Digest-only exchange: the digest stands in for the state.
    if (!isName(msg.sh)) return "st: expected an array (or sh, a digest)";
  } else if (!Array.isArray(st)) return "st: expected an array";
  else if (st.length > LIMITS.state) return "st: too many members";
  const list: unknown[] = Array.isArray(st) ? st : [];
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    if (!isObj(e) || !STATES.has(e.k as string) || !isName(e.n) || !isInc(e.i)) {
      return `st.${i}: malformed member`;
    }
    if (!isWireMeta(e.m)) return `st.${i}.m: malformed metadata`;
    if (!isSig(e.sg) || (e.sb !== undefined && !isName(e.sb))) {
      return `st.${i}.sg: malformed signature`;
    }
  }
  if (msg.sh !== undefined && !isName(msg.sh)) return "sh: expected a digest";
  for (const flag of ["sw", "o"] as const) {
    if (msg[flag] !== undefined && typeof msg[flag] !== "boolean") {
      return `${flag}: expected a boolean`;
    }
  }
  if (msg.rc !== undefined) {
    if (!Array.isArray(msg.rc)) return "rc: expected an array";
    if (msg.rc.length > LIMITS.records) return "rc: too many records";
  }
  if (msg.x !== undefined) {
    if (!isObj(msg.x)) return "x: expected an object";
    if (Object.keys(msg.x).length > LIMITS.lists) return "x: too many extension lists";
    for (const d in msg.x) {
      if (!isName(d) || !isExtensionList(msg.x[d])) return `x.${d}: malformed extension list`;
    }
  }
  return undefined;
}

/** The fields each message type has: any other field of a decoded frame is left out. */
const FIELDS: Readonly<Record<string, readonly string[]>> = {
  ping: ["t", "f", "s", "n", "pb"],
  ack: ["t", "f", "s", "pb"],
  nack: ["t", "f", "s", "r"],
  preq: ["t", "f", "s", "n", "a", "pb"],
  gossip: ["t", "f", "pb", "a"],
  pp: ["t", "f", "s", "j", "r", "st", "sh", "sw", "o", "x", "rc", "rh", "rw"],
  extq: ["t", "f", "s", "d"],
  ext: ["t", "f", "s", "d", "l"],
};
const ENTRY_FIELDS = ["k", "n", "i", "m", "sg", "sb"];
const UPDATE_FIELDS = ["k", "n", "i", "m", "sg", "sb", "by"];
const RECORD_UPDATE_FIELDS = ["k", "r"];
const META_FIELDS = ["a", "fp", "r", "si", "se", "v", "ec", "ed"];

/** `o` itself when it has only `fields`, else a copy with only those. */
function only(o: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  let extra = false;
  for (const k in o) {
    if (!fields.includes(k)) {
      extra = true;
      break;
    }
  }
  if (!extra) return o;
  const out: Record<string, unknown> = {};
  for (const k of fields) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** A state entry or member update with only its fields, its metadata too. */
function onlyMember(e: Record<string, unknown>, fields: readonly string[]) {
  const out = only(e, fields);
  if (isObj(out.m)) out.m = only(out.m, META_FIELDS);
  return out;
}

/**
 * A validated message parsed from text with only the fields of its type, in it and in its
 * state entries, updates and metadata: the engine keeps some messages a while (push-pull
 * openings wait their turn, bounded in chars), and a field nobody reads (a megabyte of `{}`
 * parses into 15 MiB of objects) must not be kept with them.
 */
function onlyKnown(v: Record<string, unknown>): Record<string, unknown> {
  const msg = only(v, FIELDS[v.t as string]);
  if (Array.isArray(msg.st)) {
    msg.st = msg.st.map((e: Record<string, unknown>) => onlyMember(e, ENTRY_FIELDS));
  }
  if (Array.isArray(msg.pb)) {
    msg.pb = msg.pb.map((u: Record<string, unknown>) =>
      u.k === "rec" ? only(u, RECORD_UPDATE_FIELDS) : onlyMember(u, UPDATE_FIELDS)
    );
  }
  return msg;
}

/**
 * Decodes and validates an inbound frame (an object, JSON text, or UTF-8 bytes of JSON text).
 * Returns the message, or a short reason string when the frame is malformed. Never throws.
 * A frame given as text or bytes comes back without the fields its type does not have.
 */
export function decodeMessage(frame: unknown): Message | string {
  let v: unknown = frame;
  if (frame instanceof Uint8Array) {
    if (frame.byteLength > LIMITS.frameChars) return "frame too large";
    try {
      v = decoder.decode(frame);
    } catch {
      return "frame is not UTF-8";
    }
  }
  if (typeof v === "string") {
    if (v.length > LIMITS.frameChars) return "frame too large";
    try {
      v = JSON.parse(v);
    } catch {
      return "frame is not JSON";
    }
  }
  if (!isObj(v)) return "frame is not an object";
  if (!isName(v.f)) return "f: expected a member name";
  let problem: string | undefined;
  switch (v.t) {
    case "ping":
      problem = !isUint(v.s)
        ? "s: expected a sequence number"
        : !isName(v.n)
        ? "n: expected a member name"
        : checkUpdates(v.pb, false);
      break;
    case "ack":
      problem = !isUint(v.s) ? "s: expected a sequence number" : checkUpdates(v.pb, false);
      break;
    case "nack":
      problem = !isUint(v.s)
        ? "s: expected a sequence number"
        : v.r !== undefined && typeof v.r !== "boolean"
        ? "r: expected a boolean"
        : undefined;
      break;
    case "preq":
      problem = !isUint(v.s)
        ? "s: expected a sequence number"
        : !isName(v.n) || !isName(v.a)
        ? "n, a: expected a member name and address"
        : checkUpdates(v.pb, false);
      break;
    case "gossip":
      problem = v.a !== undefined && v.a !== true ? "a: expected true" : checkUpdates(v.pb, true);
      break;
    case "pp":
      problem = !isUint(v.s)
        ? "s: expected a sequence number"
        : v.rh !== undefined && !isName(v.rh)
        ? "rh: expected a digest"
        : v.rw !== undefined && typeof v.rw !== "boolean"
        ? "rw: expected a boolean"
        : checkState(v);
      break;
    case "extq":
      problem = !isUint(v.s) || !isName(v.d) ? "s, d: expected a sequence and a digest" : undefined;
      break;
    case "ext":
      problem = !isUint(v.s) || !isName(v.d)
        ? "s, d: expected a sequence and a digest"
        : v.l !== undefined && !isExtensionList(v.l)
        ? "l: malformed extension list"
        : undefined;
      break;
    default:
      problem = "t: unknown message type";
  }
  if (problem !== undefined) return problem;
  // Objects (in-process transports) are members' own, shared between receivers: kept as they are.
  const parsed = typeof frame === "string" || frame instanceof Uint8Array;
  return (parsed ? onlyKnown(v) : v) as unknown as Message;
}

/** Encodes a message as JSON text (for transports that cross a process boundary). */
export function encodeMessage(message: Message): string {
  return JSON.stringify(message);
}

const wireCache = new WeakMap<MemberMeta, WireMeta>();

/** Converts metadata to its wire form (without the extension list); memoized per object. */
export function toWireMeta(meta: MemberMeta): WireMeta {
  let wire = wireCache.get(meta);
  if (!wire) {
    wire = makeWire(meta);
    wireCache.set(meta, wire);
  }
  return wire;
}

function makeWire(meta: MemberMeta): WireMeta {
  return {
    a: meta.address,
    fp: meta.fingerprint,
    r: meta.role,
    si: meta.schemaInternal,
    se: meta.schemaExternal,
    v: meta.appVersion,
    ec: meta.extensionCount,
    ed: meta.extensionDigest,
  };
}

/** Converts wire metadata to {@link MemberMeta}; memoized per object. */
export function fromWireMeta(m: WireMeta): MemberMeta {
  let meta = metaCache.get(m);
  if (!meta) {
    meta = Object.freeze({
      address: m.a,
      fingerprint: m.fp,
      role: m.r,
      schemaInternal: m.si,
      schemaExternal: m.se,
      appVersion: m.v,
      extensionCount: m.ec,
      extensionDigest: m.ed,
    });
    metaCache.set(m, meta);
  }
  return meta;
}

/** Reports whether two wire metadata values are equal field by field. */
export function sameWireMeta(x: WireMeta, y: WireMeta): boolean {
  return x === y || (x.a === y.a && x.fp === y.fp && x.r === y.r && x.si === y.si &&
    x.se === y.se && x.v === y.v && x.ec === y.ec && x.ed === y.ed);
}

/**
 * Encoded size (UTF-8 bytes of its JSON) of an update, plus one for the separating comma;
 * memoized. Bytes, not chars: frames are bounded in bytes ({@link MAX_FRAME_BYTES}), and a
 * record's value or a name may be of characters of up to 3 bytes each.
 */
export function updateSize(u: Update): number {
  let size = sizeCache.get(u);
  if (size === undefined) {
    size = utf8Length(JSON.stringify(u)) + 1;
    sizeCache.set(u, size);
  }
  return size;
}

const NON_ASCII = /[\u0080-\uffff]/;

/** UTF-8 length of `s` (a lone surrogate counts as the 3 bytes of its replacement). */
export function utf8Length(s: string): number {
  if (!NON_ASCII.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
