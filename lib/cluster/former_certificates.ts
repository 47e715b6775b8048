/**
 * The certificates this member saw leave a name (the incarnation removed, or replaced by a new
 * one), each with the version of that removal. Rule 1 of `roster_rules.ts` reads them: an admission
 * dated no later than its admitting member's removal was made by a member, and is checked with
 * the certificate that member held then.
 *
 * This is the member's own knowledge, never replicated: a certificate enters only when a roster
 * record this member held, checked when it came in, is replaced. Records others can write (a
 * tombstone, a removal note) carry no certificate, so nobody can plant a "former certificate"
 * that would admit what the cluster never admitted. The daemon keeps it in its store
 * (`core_former_certificates`, written with the record that caused it) and hands it back at
 * start, so a restart remembers what the member saw before.
 *
 * @module
 */
import type { ReplicatedRecord } from "./replicated_record.ts";
import { MEMBER_RECORD, type RosterEntry } from "./roster.ts";

/** The most certificates remembered per name (the latest ones). */
export const FORMER_PER_NAME = 8;
/** The most names remembered (those whose certificates left last). */
export const FORMER_NAMES = 4096;

/** A certificate that left a name. */
export interface FormerCertificate {
  /** The member name it held. */
  readonly name: string;
  /** The certificate (PEM). */
  readonly certificate: string;
  /** Its hex SHA-256 fingerprint, as the record held stated it (checked when it came in). */
  readonly fingerprint: string;
  /**
   * The version of its removal (ms since the epoch): the tombstone's, or the removal a new
   * incarnation's admission states (`admission.after`), else that record's version.
   */
  readonly until: number;
}

/**
 * What storing roster record `record` over `held` (the record it replaces) ends: the held
 * certificate, when the new record is a tombstone or names another certificate; `undefined`
 * otherwise (and for records of other kinds).
 */
export function formerCertificateOf(
  held: ReplicatedRecord | undefined,
  record: ReplicatedRecord,
): FormerCertificate | undefined {
  if (record.kind !== MEMBER_RECORD) return undefined;
  const old = held?.value as RosterEntry | null | undefined;
  if (!old || typeof old !== "object" || typeof old.certificate !== "string") return undefined;
  const next = record.value as RosterEntry | null;
  if (next !== null && next?.certificate === old.certificate) return undefined;
  const after = next?.admission?.after;
  return {
    name: record.key,
    certificate: old.certificate,
    fingerprint: typeof old.fingerprint === "string" ? old.fingerprint : "",
    until: typeof after === "number" ? after : record.version,
  };
}

/**
 * The memory of former certificates (see the module docs), bounded by {@link FORMER_PER_NAME}
 * and {@link FORMER_NAMES}: past them, a name's oldest certificate and the name whose last
 * certificate left longest ago are forgotten.
 */
export class FormerCertificates {
  readonly #byName = new Map<string, FormerCertificate[]>();

  /** Starts from `restored`, oldest first (as {@link add}ed in that order). */
  constructor(restored: Iterable<FormerCertificate> = []) {
    for (const f of restored) this.add(f);
  }

  /**
   * Notes what roster record `record` just stored over `held` ended (see
   * {@link formerCertificateOf}); returns it, or `undefined` when it ended nothing.
   */
  note(
    held: ReplicatedRecord | undefined,
    record: ReplicatedRecord,
  ): FormerCertificate | undefined {
    const f = formerCertificateOf(held, record);
    if (f) this.add(f);
    return f;
  }

  /** Remembers `f`, as the latest certificate that left its name. */
  add(f: FormerCertificate): void {
    const list = this.#byName.get(f.name) ?? [];
    this.#byName.delete(f.name);
    list.push(f);
    if (list.length > FORMER_PER_NAME) list.shift();
    this.#byName.set(f.name, list);
    if (this.#byName.size > FORMER_NAMES) this.#byName.delete(this.#byName.keys().next().value!);
  }

  /** The certificates (PEM) that held `name` until no earlier than `at` (ms). */
  until(name: string, at: number): string[] {
    return (this.#byName.get(name) ?? []).filter((f) => f.until >= at).map((f) => f.certificate);
  }

  /**
   * When the certificate of `fingerprint` last left `name` (the version of that removal), or
   * `undefined` when this member never saw it leave `name`.
   */
  removedAt(name: string, fingerprint: string): number | undefined {
    let at: number | undefined;
    for (const f of this.#byName.get(name) ?? []) {
      if (f.fingerprint === fingerprint && (at === undefined || f.until > at)) at = f.until;
    }
    return at;
  }

  /** Everything remembered: names in the order their last certificate left, each oldest first. */
  entries(): FormerCertificate[] {
    return [...this.#byName.values()].flat();
  }
}
