/**
 * cohort's {@link Trust}: members are those with a live roster record (`roster.ts`), and a
 * member's key is the one of the certificate in its record (ECDSA P-256, the member certificate
 * cohort issues). Claims and records are signed with node:crypto (synchronous: the gossip engine
 * is), in the IEEE P1363 form (64 bytes, 86 characters of base64url).
 *
 * Costs, measured on the project machine under Node 20: signing ≈ 35 µs, verifying ≈ 90 µs
 * (under Deno's node:crypto ≈ 0.8 ms each). A member signs once per change of its own claim or
 * record; it verifies each claim or record that would change what it holds, once (the engine
 * remembers verified signatures), so a steady cluster signs and verifies nothing.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  createHash,
  createPrivateKey,
  type KeyObject,
  sign,
  verify,
  X509Certificate,
} from "node:crypto";
import type { ReplicatedRecord } from "./replicated_record.ts";
import {
  admissionPayload,
  MEMBER_RECORD,
  recordPayload,
  REMOVAL_RECORD,
  type RosterEntry,
} from "./roster.ts";
import { removalOverrides, type RosterKeys, rosterRecordProblem } from "./roster_rules.ts";
import type { Trust, TrustContext, TrustFactory } from "./trust.ts";
import { FormerCertificates } from "./former_certificates.ts";
import { APP_RECORD, RECORDS_LIMITS, type RecordsUsage, usageOf } from "../records/limits.ts";

/** The local member's identity. */
export interface RosterIdentity {
  /** Its certificate (PEM). */
  readonly cert: string;
  /** Its private key (PEM). */
  readonly key: string;
}

interface Parsed {
  readonly fingerprint: string;
  readonly key: KeyObject;
}

/** Parsed certificates, by PEM text (a roster holds a few, each parsed once). */
const parsed = new Map<string, Parsed | null>();
const PARSED_MAX = 8192;

function parse(certificate: string): Parsed | undefined {
  let p = parsed.get(certificate);
  if (p === undefined) {
    try {
      const x = new X509Certificate(certificate);
      p = { fingerprint: createHash("sha256").update(x.raw).digest("hex"), key: x.publicKey };
    } catch {
      p = null;
    }
    if (parsed.size >= PARSED_MAX) parsed.delete(parsed.keys().next().value!);
    parsed.set(certificate, p);
  }
  return p ?? undefined;
}

/** One PEM certificate block, as cohort writes them. */
const PEM_CERTIFICATE =
  /^-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----\s*$/;

/**
 * See {@link RosterKeys.digestOf}: the SHA-256 of the block's base64 body, decoded. Text in
 * another form (more blocks, other armour) is parsed, so it equals the fingerprint of any
 * certificate the parse takes.
 */
export function pemDigest(pem: string): string | undefined {
  const known = parsed.get(pem);
  if (known !== undefined) return known?.fingerprint;
  const body = PEM_CERTIFICATE.exec(pem)?.[1];
  if (body === undefined) return parse(pem)?.fingerprint;
  return createHash("sha256").update(Buffer.from(body, "base64")).digest("hex");
}

function verifyWith(certificate: string, payload: string, sig: string): boolean {
  const p = parse(certificate);
  if (!p || typeof sig !== "string" || sig.length > 256) return false;
  try {
    return verify(
      "sha256",
      Buffer.from(payload),
      { key: p.key, dsaEncoding: "ieee-p1363" },
      Buffer.from(sig, "base64url"),
    );
  } catch {
    return false;
  }
}

/** The live roster as the trust reads it: entries by name, names by fingerprint. */
interface View {
  readonly byName: Map<string, RosterEntry>;
  readonly byFingerprint: Map<string, string>;
  readonly tokens: number;
  readonly removals: number;
}

/** Options of {@link rosterTrust}. */
export interface RosterTrustOptions {
  /**
   * The certificates this member saw leave a name, as its store remembers them
   * (`former_certificates.ts`): the trust reads them for rule 1 of `roster_rules.ts` and notes every
   * certificate a record change ends into them. @default an empty memory (forgotten at restart)
   */
  former?: FormerCertificates;
}

/**
 * Builds cohort's trust for a member with `identity` (see the module docs and the rules in
 * `roster.ts`).
 *
 * @throws {Error} from node:crypto when `identity.key` is not a private key.
 */
export function rosterTrust(
  identity: RosterIdentity,
  options: RosterTrustOptions = {},
): TrustFactory {
  const privateKey = createPrivateKey(identity.key);
  const signText = (payload: string) =>
    sign("sha256", Buffer.from(payload), { key: privateKey, dsaEncoding: "ieee-p1363" })
      .toString("base64url");
  return (ctx: TrustContext): Trust => {
    let view: View | undefined;
    let appUsage: RecordsUsage | undefined;
    const former = options.former ?? new FormerCertificates();
    ctx.onRecordChange((r, previous) => {
      former.note(previous, r);
      if (r.kind === MEMBER_RECORD || r.kind === "token" || r.kind === REMOVAL_RECORD) {
        view = undefined;
      } else if (r.kind === APP_RECORD) appUsage = undefined;
    });
    const current = (): View => {
      if (view) return view;
      const byName = new Map<string, RosterEntry>();
      const byFingerprint = new Map<string, string>();
      for (const r of ctx.records.records(MEMBER_RECORD)) {
        const e = r.value as unknown as RosterEntry | null;
        if (e === null || typeof e !== "object" || typeof e.certificate !== "string") continue;
        byName.set(r.key, e);
        if (typeof e.fingerprint === "string") byFingerprint.set(e.fingerprint, r.key);
      }
      let tokens = 0;
      for (const r of ctx.records.records("token")) if (r.value !== null) tokens++;
      let removals = 0;
      for (const r of ctx.records.records(REMOVAL_RECORD)) if (r.value !== null) removals++;
      return view = { byName, byFingerprint, tokens, removals };
    };
    const keys: RosterKeys = {
      certificatesOf(name, at) {
        const now = current().byName.get(name)?.certificate;
        const before = Number.isFinite(at) ? former.until(name, at) : [];
        return now === undefined ? before : [now, ...before];
      },
      fingerprintOf: (certificate) => parse(certificate)?.fingerprint,
      digestOf: pemDigest,
      verify: verifyWith,
      now: () => ctx.now(),
      liveCount: (kind) =>
        kind === MEMBER_RECORD
          ? current().byName.size
          : kind === REMOVAL_RECORD
          ? current().removals
          : current().tokens,
      // Recomputed after a change (value sizes are cached per record), and when full: an
      // expired tombstone changes nothing else.
      appUsage: () =>
        appUsage && appUsage.keys < RECORDS_LIMITS.maxKeys
          ? appUsage
          : appUsage = usageOf(ctx.records.records(APP_RECORD)),
    };
    return {
      sign: signText,
      verify(signer, payload, sig) {
        const cert = current().byName.get(signer)?.certificate;
        return cert !== undefined && verifyWith(cert, payload, sig);
      },
      isMember: (name) => current().byName.has(name),
      mayVouch(admitter, name) {
        const e = current().byName.get(name);
        return e !== undefined && e.joining === true && e.admission?.by === admitter;
      },
      nameOf: (peer) => current().byFingerprint.get(peer),
      fingerprintOf: (name) => current().byName.get(name)?.fingerprint,
      seal: (record) =>
        seal(record, ctx.records.record(record.kind, record.key), ctx.name, signText),
      recordProblem: (record, held, trusted) => rosterRecordProblem(record, held, trusted, keys),
      overrides: removalOverrides,
    };
  };
}

/**
 * Signs a local write of a roster value: adds the admission when the record has none (we admit
 * the member, or ourselves at bootstrap), stating the removal it follows when we hold the
 * name's tombstone (`held`), and the record signature. Other records pass as they are.
 */
function seal(
  record: ReplicatedRecord,
  held: ReplicatedRecord | undefined,
  local: string,
  signText: (payload: string) => string,
): ReplicatedRecord {
  if (record.kind !== MEMBER_RECORD || record.value === null) return record;
  const value = record.value as unknown as RosterEntry;
  if (typeof value !== "object" || typeof value.certificate !== "string") return record;
  const { sig: _, ...unsigned } = value;
  if (!unsigned.admission) {
    const after = held?.value === null && held.version < value.joinedAt ? held.version : undefined;
    unsigned.admission = {
      by: local,
      sig: signText(admissionPayload(record.key, value.certificate, value.joinedAt, after)),
      ...(after !== undefined ? { after } : {}),
    };
  }
  const sig = signText(recordPayload(record, unsigned));
  return { ...record, value: { ...unsigned, sig } as unknown as ReplicatedRecord["value"] };
}
