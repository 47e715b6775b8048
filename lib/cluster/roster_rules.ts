/**
 * The write rules of the roster's records (`roster.ts`): what every member checks before it
 * takes a `member`, `token`, `removal` or `app` record from another member.
 *
 * ## Who may write a roster record (checked by every receiver: {@link rosterRecordProblem})
 *
 * - **A member writes only its own record**, signed with its member key (`sig`: ECDSA P-256
 *   over {@link recordPayload}), and never changes the certificate in it.
 * - **Except at admission:** the admitting member writes the joiner's record, marked `joining`,
 *   signed with its own key. Every record carries its `admission`: the admitting member's name
 *   and signature over the joiner's name, certificate and join time ({@link admissionPayload}),
 *   kept when the joiner rewrites its record, so a member that missed the admission still
 *   checks that a member let this certificate in. The bootstrap member admits itself;
 *   such a record is accepted only over one already held with the same certificate (every
 *   later member receives it in the state its admitting member hands it).
 * - **Any member writes a tombstone** (`null`): removal is anyone's, and it always wins (a
 *   tombstone beats a value of the same version, and versions are bounded: see
 *   `gossip/record_intake.ts`).
 *
 * ## Incarnations: what proves a record to a member that missed its history
 *
 * A name is held by one certificate at a time, from its admission to its removal; a removed
 * member may join again under the same name with a new certificate (a new incarnation). A
 * receiver decides from the record alone and what it holds, whatever it missed:
 *
 * 1. **The admission proves the certificate**, once: it must verify with a certificate its
 *    admitting member held *at the admission time* (`joinedAt`): its current one, or one this
 *    receiver saw removed or replaced no earlier than that time ({@link RosterKeys.certificatesOf};
 *    the receiver's own memory, kept in its store across restarts: `former_certificates.ts`).
 *    A member removed since still vouches for what it admitted while it was one; its key admits
 *    nothing dated after its removal. A record whose certificate and admission the receiver
 *    already holds needs only its writer's signature (the member's own rewrites, after its
 *    admitting member left).
 * 2. **A removal wins over the incarnation it removed, forever**: over a tombstone of version
 *    T, only a record admitted after it (`joinedAt` > T) is accepted. An admission is never
 *    later than its removal in one incarnation (the removal's version is at least the
 *    admission record's), so the removed member's own writes, whatever their version, are
 *    refused; the admitting member dates a new admission after the tombstone it holds. The
 *    other way round too: a member holding such a write (the removed member, unaware of its
 *    removal, rewrote its record, e.g. to publish a refused start) takes the tombstone over it,
 *    although the write's version is higher ({@link removalOverrides}), so every member ends
 *    with the tombstone.
 * 3. **A name changes hands only after a removal the admission states:** a record of another
 *    certificate than the live one held replaces it only when its admission carries `after`,
 *    the version of the removal it follows (signed with the admission), no earlier than the
 *    held incarnation's admission and before the new one. A receiver that missed the tombstone
 *    (it has since been overwritten by the new admission) thus orders both as they happened:
 *    the removal of the incarnation it held, then the new one. The member that held the name
 *    takes it as its own removal (`lib/daemon/view.ts`). Without `after`, a joining record of
 *    another certificate replaces only a held *joining* record (two admissions of one name
 *    racing; the later wins).
 *
 * What this leaves a misbehaving member: removing anyone and admitting certificates of its
 * choosing (after a removal it states), as `cluster remove` and join tokens allow any member;
 * every such admission names it (signed) and can be removed. It cannot change what another
 * member's record says, nor bring a removed incarnation back.
 *
 * Join-token records (`token`) are anyone's to write, consume or revoke, as any member may
 * issue a token; only their shape and number are checked. Removal notes (`removal`, `{ force }`, written
 * with a removal's tombstone so that every member's `postRemove` knows whether it was forced)
 * are anyone's too, as the tombstone is; their shape, expiry (within an hour) and number are
 * checked. App records (`app`, the app's
 * replicated records) are any member's to write too, within their limits and budget
 * (`lib/records/limits.ts`). Records of other kinds are refused.
 *
 * @module
 */
import { APP_RECORD, appRecordProblem, type RecordsUsage } from "../records/limits.ts";
import { type ReplicatedRecord, TOMBSTONE_LAPSE_MS } from "./replicated_record.ts";
import {
  admissionPayload,
  canonicalJson,
  MAX_ROSTER,
  MAX_TOKENS,
  MEMBER_RECORD,
  recordPayload,
  REMOVAL_NOTE_MS,
  REMOVAL_RECORD,
  type RosterEntry,
  TOKEN_RECORD,
} from "./roster.ts";

/** What the write rules need to know about keys (see `roster_trust.ts`). */
export interface RosterKeys {
  /**
   * The certificates `name` held as a member at time `at` (ms), as this member knows them: the
   * one in its live record, and those this member saw removed or replaced no earlier than `at`.
   */
  certificatesOf(name: string, at: number): readonly string[];
  /** Hex SHA-256 fingerprint of a certificate (PEM), `undefined` when it is not one. */
  fingerprintOf(certificate: string): string | undefined;
  /**
   * Hex SHA-256 of a PEM block's DER bytes, without parsing them as a certificate (what
   * {@link RosterKeys.fingerprintOf} gives for a certificate); `undefined` when `pem` is not
   * one PEM certificate block. For records from a trusted source, which parsed them already.
   */
  digestOf(pem: string): string | undefined;
  /** Whether `sig` is a signature of `payload` by the key of `certificate`. Never throws. */
  verify(certificate: string, payload: string, sig: string): boolean;
  /** Number of live (non-tombstone) records of a kind, for the caps. */
  liveCount(kind: string): number;
  /** This member's wall clock, ms since the epoch. */
  now(): number;
  /** Keys and value characters of the app records held, for their budget. */
  appUsage(): RecordsUsage;
}

const HEX64 = /^[0-9a-f]{64}$/;
const ROSTER_FIELDS = new Set([
  "address",
  "certificate",
  "fingerprint",
  "joinedAt",
  "joining",
  "admission",
  "sig",
  "refused",
]);
const TOKEN_FIELDS = new Set(["name", "expiresAt", "createdAt"]);
/** How far a join time may be from the version of the record that admits it, in ms. */
const JOINED_AT_SLACK_MS = 3_600_000;

const isUint = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isName = (v: unknown): v is string =>
  typeof v === "string" && v.length > 0 && v.length <= 256;

/** Why a record value is not a well-formed roster entry, or `undefined`. */
function rosterShapeProblem(v: Record<string, unknown>): string | undefined {
  for (const k in v) if (!ROSTER_FIELDS.has(k)) return `value: unknown field ${k}`;
  if (!isName(v.address)) return "address: expected host:port";
  if (typeof v.certificate !== "string" || v.certificate.length === 0) {
    return "certificate: expected a PEM certificate";
  }
  if (typeof v.fingerprint !== "string" || !HEX64.test(v.fingerprint)) {
    return "fingerprint: expected 64 hex digits";
  }
  if (!isUint(v.joinedAt)) return "joinedAt: expected a time in ms";
  if (v.joining !== undefined && typeof v.joining !== "boolean") {
    return "joining: expected a boolean";
  }
  const a = v.admission as Record<string, unknown> | undefined;
  if (
    a !== undefined &&
    (typeof a !== "object" || a === null || !isName(a.by) || typeof a.sig !== "string" ||
      Object.keys(a).some((k) => k !== "by" && k !== "sig" && k !== "after"))
  ) return "admission: expected { by, sig, after? }";
  if (a?.after !== undefined && (!isUint(a.after) || a.after >= (v.joinedAt as number))) {
    return "admission: after: expected the version of a removal before joinedAt";
  }
  if (v.sig !== undefined && typeof v.sig !== "string") return "sig: expected a signature";
  if (v.refused !== undefined) return refusedShapeProblem(v.refused);
  return undefined;
}

/** Why a `refused` field is not a well-formed {@link RefusedStart}, or `undefined`. */
function refusedShapeProblem(r: unknown): string | undefined {
  const f = r as Record<string, unknown>;
  if (typeof f !== "object" || f === null || Array.isArray(f)) return "refused: expected an object";
  for (const k in f) {
    if (!["at", "schemaInternal", "schemaExternal", "extensions", "count", "reason"].includes(k)) {
      return `refused: unknown field ${k}`;
    }
  }
  if (![f.at, f.schemaInternal, f.schemaExternal, f.count].every(isUint)) {
    return "refused: expected times, versions and a count as non-negative integers";
  }
  const list = f.extensions;
  if (!Array.isArray(list) || list.length > 1024 || !list.every(isName)) {
    return "refused: expected at most 1024 extension names";
  }
  if (typeof f.reason !== "string" || f.reason.length > 1024) {
    return "refused: expected a reason of at most 1024 characters";
  }
  return undefined;
}

/**
 * Why a `member`, `token` or `app` record received from another member must not replace `held`, or
 * `undefined` when it may (the rules in the module docs; app records are checked by
 * `appRecordProblem`, records of other kinds are refused).
 * `trusted`: the record comes with the state the admitting member handed this one at its join,
 * trusted as that member is: only its shape, fingerprint and the caps are checked.
 */
export function rosterRecordProblem(
  record: ReplicatedRecord,
  held: ReplicatedRecord | undefined,
  trusted: boolean,
  keys: RosterKeys,
): string | undefined {
  if (record.kind === TOKEN_RECORD) return tokenRecordProblem(record, held, keys);
  // App records: any member may write any key; only their shape and the budget are checked.
  if (record.kind === APP_RECORD) return appRecordProblem(record, held, keys.appUsage());
  if (record.kind === REMOVAL_RECORD) return removalRecordProblem(record, held, keys);
  if (record.kind !== MEMBER_RECORD) return `kind: cohort keeps no "${record.kind}" records`;
  if (record.expiresAt !== undefined) return "expiresAt: roster records never expire";
  if (record.value === null) return undefined; // removal: anyone's
  if (typeof record.value !== "object" || Array.isArray(record.value)) {
    return "value: expected a roster entry";
  }
  const v = record.value as Record<string, unknown>;
  const shape = rosterShapeProblem(v);
  if (shape) return shape;
  const entry = v as unknown as RosterEntry;
  // A joiner takes in the admitting member's view before anyone can reach it, N records at
  // once: an X.509 parse each (≈ 0.7 ms, ten times that on a loaded machine) held its loop
  // while every member started probing it. The admitting member parsed them when it took them.
  const fp = trusted ? keys.digestOf(entry.certificate) : keys.fingerprintOf(entry.certificate);
  if (fp !== entry.fingerprint) {
    return "fingerprint: does not match the certificate";
  }
  // Rule 2 once the removal lapsed: every member hears of an admission long before its
  // removal's tombstone lapses, so a record of a name this member holds nothing for, admitted
  // longer ago than that, is a removed incarnation brought back by a member that was away. A
  // member itself away that long refuses the members admitted meanwhile alike: it must join
  // again (README, Removal), as it cannot tell them from removed ones.
  if (!held && !trusted && entry.joinedAt + TOMBSTONE_LAPSE_MS <= keys.now()) {
    const days = Math.floor((keys.now() - entry.joinedAt) / 86_400_000);
    return `joinedAt: admitted ${days} days ago and never held here: removed since (removals ` +
      "are remembered 30 days), or this member was away longer than that";
  }
  const heldEntry = held?.value != null ? held.value as unknown as RosterEntry : undefined;
  if (!heldEntry && keys.liveCount(MEMBER_RECORD) >= MAX_ROSTER) {
    return `the roster is full (${MAX_ROSTER} members)`;
  }
  if (trusted) return undefined;
  return writerProblem(record, entry, held, keys);
}

/** Whether the writer of a roster value may write it, and did (signatures): see the module docs. */
function writerProblem(
  record: ReplicatedRecord,
  entry: RosterEntry,
  held: ReplicatedRecord | undefined,
  keys: RosterKeys,
): string | undefined {
  const name = record.key;
  const admission = entry.admission;
  if (!admission) return "admission: missing (no member admitted this certificate)";
  const heldEntry = held?.value != null ? held.value as unknown as RosterEntry : undefined;
  const sameCert = heldEntry?.certificate === entry.certificate;
  // Rule 2: the removal wins over every record of the incarnation it removed.
  if (held && !heldEntry && entry.joinedAt <= held.version) {
    return "admission: this incarnation was removed after it (its removal wins)";
  }
  // Rule 3: another certificate takes the name only after a removal of the one held.
  const handover = heldEntry !== undefined && !sameCert && admission.after !== undefined &&
    admission.after >= heldEntry.joinedAt;
  // Rule 1: the admission, checked once per certificate and admission.
  const known = sameCert && heldEntry.joinedAt === entry.joinedAt &&
    canonicalJson(heldEntry.admission) === canonicalJson(admission);
  if (!known) {
    let admitterCerts: readonly string[];
    if (admission.by === name) {
      // The bootstrap member admitted itself: only a record already held can be re-signed so.
      if (!sameCert) return "admission: a member cannot admit itself";
      admitterCerts = [entry.certificate];
    } else {
      admitterCerts = keys.certificatesOf(admission.by, entry.joinedAt);
      if (!admitterCerts.length) return `admission: "${admission.by}" is not a member`;
    }
    const admitted = admissionPayload(name, entry.certificate, entry.joinedAt, admission.after);
    if (!admitterCerts.some((c) => keys.verify(c, admitted, admission.sig))) {
      return "admission: bad signature";
    }
  }
  // The writer: the member itself, or its admitting member while it joins.
  let writerCert: string;
  if (record.origin === name) {
    if (heldEntry && !sameCert && !handover) {
      return "certificate: a member cannot change its certificate";
    }
    writerCert = entry.certificate;
  } else if (record.origin === admission.by && entry.joining === true) {
    if (Math.abs(entry.joinedAt - record.version) > JOINED_AT_SLACK_MS) {
      return "joinedAt: more than an hour from the admission";
    }
    if (heldEntry && !sameCert && heldEntry.joining !== true && !handover) {
      return "certificate: a member's certificate is replaced only after its removal";
    }
    // The admitting member's certificate now (it signs the record it writes now).
    const current = keys.certificatesOf(admission.by, Infinity);
    if (!current.length) return `origin: "${admission.by}" is not a member`;
    writerCert = current[0];
  } else {
    return "origin: a member writes only its own record (its admitting member while it joins)";
  }
  if (typeof entry.sig !== "string") return "sig: missing";
  const { sig: _, ...unsigned } = entry;
  if (!keys.verify(writerCert, recordPayload(record, unsigned), entry.sig)) {
    return "sig: bad signature";
  }
  return undefined;
}

/** Token records: any member mints, consumes or revokes them; their shape and number are checked. */
/** Why a removal note is not well-formed (anyone's to write, like the tombstone it explains). */
function removalRecordProblem(
  record: ReplicatedRecord,
  held: ReplicatedRecord | undefined,
  keys: RosterKeys,
): string | undefined {
  if (!isName(record.key)) return "key: expected a member name";
  if (record.expiresAt === undefined || record.expiresAt > record.version + REMOVAL_NOTE_MS) {
    return `expiresAt: a removal note expires within ${REMOVAL_NOTE_MS} ms of its write`;
  }
  if (record.value === null) return undefined;
  const v = record.value as Record<string, unknown>;
  if (typeof v !== "object" || Array.isArray(v)) return "value: expected { force }";
  for (const k in v) if (k !== "force") return `value: unknown field ${k}`;
  if (typeof v.force !== "boolean") return "force: expected a boolean";
  if (held?.value == null && keys.liveCount(REMOVAL_RECORD) >= MAX_ROSTER) {
    return `too many removal notes (${MAX_ROSTER})`;
  }
  return undefined;
}

function tokenRecordProblem(
  record: ReplicatedRecord,
  held: ReplicatedRecord | undefined,
  keys: RosterKeys,
): string | undefined {
  if (!HEX64.test(record.key)) return "key: expected the SHA-256 of a secret";
  if (record.value === null) return undefined;
  const v = record.value as Record<string, unknown>;
  if (typeof v !== "object" || Array.isArray(v)) return "value: expected a token entry";
  for (const k in v) if (!TOKEN_FIELDS.has(k)) return `value: unknown field ${k}`;
  if (!isName(v.name)) return "name: expected a member name";
  if (v.expiresAt !== null && !isUint(v.expiresAt)) return "expiresAt: expected a time or null";
  if (!isUint(v.createdAt)) return "createdAt: expected a time in ms";
  if (held?.value == null && keys.liveCount(TOKEN_RECORD) >= MAX_TOKENS) {
    return `too many join tokens (${MAX_TOKENS})`;
  }
  return undefined;
}

/**
 * Whether `record`, a roster tombstone, replaces `held`, a record of the incarnation it removed
 * (admitted no later than the removal), whatever `held`'s version: rule 2 of the module docs,
 * seen from a member that took a write of the removed incarnation before the removal.
 */
export function removalOverrides(record: ReplicatedRecord, held: ReplicatedRecord): boolean {
  if (record.kind !== MEMBER_RECORD || record.value !== null || held.value === null) return false;
  const joinedAt = (held.value as { joinedAt?: unknown }).joinedAt;
  return typeof joinedAt === "number" && joinedAt <= record.version;
}
