/**
 * The shape of a replicated record: the fields a record may have, their types and bounds
 * (`RECORD_LIMITS`), and a value that is JSON (finite numbers, plain objects and arrays, bounded
 * depth, bounded size). A record found well-formed is frozen, so a listener cannot change what
 * other members share, and remembered, so the same object is checked once.
 *
 * Separate from the record table (records.ts) and from what is refused of a well-formed record
 * (record_intake.ts): a record is checked here wherever it comes from, a local write, the
 * network, or the member's own store.
 *
 * @module
 */
import { RECORD_LIMITS } from "../lib/cluster/replicated_record.ts";

/** Largest nesting depth of a record value. */
const MAX_DEPTH = 16;
const ALLOWED = new Set(["kind", "key", "value", "version", "origin", "expiresAt"]);
// Records already validated (and frozen): the memory transport hands the same object to every
// receiver, so a record crossing a 1000-member simulation is checked once.
const valid = new WeakSet<object>();

const isUint = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown, max: number): v is string =>
  typeof v === "string" && v.length > 0 && v.length <= max;

/**
 * Checks that `v` is JSON (finite numbers, plain objects and arrays, bounded depth) and freezes
 * it, so a listener cannot change what other members share. Returns `false` on the first fault.
 */
function freezeJson(v: unknown, depth: number): boolean {
  if (v === null || typeof v === "string" || typeof v === "boolean") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (typeof v !== "object" || depth >= MAX_DEPTH) return false;
  if (Array.isArray(v)) {
    for (const item of v) if (!freezeJson(item, depth + 1)) return false;
  } else {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return false;
    for (const k in v) if (!freezeJson((v as Record<string, unknown>)[k], depth + 1)) return false;
  }
  Object.freeze(v);
  return true;
}

/**
 * Validates a record received from a peer (or restored), freezing it when valid. Returns a
 * short reason when it is malformed, `undefined` when it is fine. Never throws.
 */
export function recordProblem(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "expected an object";
  if (valid.has(v)) return undefined;
  const r = v as Record<string, unknown>;
  for (const k in r) if (!ALLOWED.has(k)) return `unknown field ${k}`;
  if (!isText(r.kind, RECORD_LIMITS.kind)) return "kind: expected a short non-empty string";
  if (!isText(r.key, RECORD_LIMITS.key)) return "key: expected a short non-empty string";
  if (!isText(r.origin, RECORD_LIMITS.key)) return "origin: expected a member name";
  if (!isUint(r.version)) return "version: expected a non-negative integer";
  if (r.expiresAt !== undefined && !isUint(r.expiresAt)) {
    return "expiresAt: expected a non-negative integer";
  }
  if (!("value" in r) || !freezeJson(r.value, 0)) return "value: expected JSON or null";
  if (typeof r.value === "string" || (typeof r.value === "object" && r.value !== null)) {
    let size: number;
    try {
      size = JSON.stringify(r.value).length;
    } catch {
      return "value: not encodable";
    }
    if (size > RECORD_LIMITS.valueChars) return "value: too large";
  }
  Object.freeze(v);
  valid.add(v);
  return undefined;
}
