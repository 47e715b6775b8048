/**
 * The cheap structural validation every inbound frame goes through: a malformed frame yields a
 * reason string, never an exception, and never reaches the member table; a frame parsed from
 * text keeps only the fields its type has.
 *
 * @module
 */
import {
  LIMITS,
  MAX_INCARNATION,
  MAX_SCHEMA_VERSION,
  type Message,
  type Update,
  type WireMeta,
} from "./messages.ts";
// Objects already validated once: in-process transports hand the same frozen update to every
// receiver, so a 1000-member simulation validates each update once, not 1000×.
const validUpdates = new WeakSet<object>();
const validMetas = new WeakSet<object>();
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
