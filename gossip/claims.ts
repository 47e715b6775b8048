/**
 * Members' own claims (`alive`, `left`): what is signed, how a received claim is checked, and
 * the local member's signatures. The rule (see `lib/cluster/trust.ts`): a claim about member X
 * is accepted when X signed it, when it arrives first-hand on X's own authenticated connection,
 * or, for X's starting metadata at incarnation 0, when the member that admitted X signed it
 * while X's join is pending. Nobody else can assert X's incarnation, versions or metadata.
 *
 * Verifying costs one ECDSA verification (≈ 0.1 ms under Node) per claim that would change the
 * table; claims already held are compared and dropped before, and verified signatures are
 * remembered, so a steady cluster verifies nothing.
 *
 * @module
 */
import type { Trust } from "../lib/cluster/trust.ts";
import type { WireMeta } from "./messages.ts";

/** The two kinds of claim a member makes about itself. */
export type ClaimKind = "alive" | "left";

/**
 * Where a received claim comes from: its signature (`sg`, by `sb` when that is not the member
 * itself) and `sender`, the member name the transport authenticated for the frame (absent when
 * the transport does not authenticate senders).
 */
export interface Provenance {
  /** The local member's own decision: accepted as it is (its signature, if any, is kept). */
  readonly local?: boolean;
  readonly sg?: string;
  readonly sb?: string;
  readonly sender?: string;
}

/** Provenance of the local member's own decisions. */
export const LOCAL: Provenance = Object.freeze({ local: true });

/** The exact text a claim's signature covers (unambiguous: a JSON array). */
export function claimPayload(kind: ClaimKind, name: string, inc: number, m: WireMeta): string {
  return JSON.stringify([kind, name, inc, m.a, m.fp, m.r, m.si, m.se, m.v, m.ec, m.ed]);
}

/** Verified signatures remembered, per engine. */
const CACHE = 4096;

/** Checks and makes claims for one engine. */
export class Claims {
  readonly #trust: Trust;
  /** `signer NUL signature` → the payload it was verified for. */
  readonly #verified = new Map<string, string>();
  /** Claims refused (diagnostics). */
  refused = 0;

  constructor(trust: Trust) {
    this.#trust = trust;
  }

  /** Whether `name` has joined (may enter the member table). */
  isMember(name: string): boolean {
    return this.#trust.isMember(name);
  }

  /** Signs a claim of the local member. */
  sign(kind: ClaimKind, name: string, inc: number, m: WireMeta): string {
    return this.#trust.sign(claimPayload(kind, name, inc, m));
  }

  /** Whether a claim about `name` with provenance `p` may be accepted. */
  accepts(kind: ClaimKind, name: string, inc: number, m: WireMeta, p: Provenance): boolean {
    if (p.local) return true;
    const ok = this.#check(kind, name, inc, m, p);
    if (!ok) this.refused++;
    return ok;
  }

  #check(kind: ClaimKind, name: string, inc: number, m: WireMeta, p: Provenance): boolean {
    const fp = this.#trust.fingerprintOf(name);
    if (fp !== undefined && m.fp !== fp) return false;
    // First-hand: the member says it itself, on its own connection.
    if (p.sender === name && (p.sb === undefined || p.sb === name)) return true;
    if (p.sg === undefined) return false;
    let signer = name;
    if (p.sb !== undefined && p.sb !== name) {
      if (kind !== "alive" || inc !== 0 || !this.#trust.mayVouch(p.sb, name)) return false;
      signer = p.sb;
    }
    const payload = claimPayload(kind, name, inc, m);
    const key = `${signer}\u0000${p.sg}`;
    if (this.#verified.get(key) === payload) return true;
    if (!this.#trust.verify(signer, payload, p.sg)) return false;
    if (this.#verified.size >= CACHE) {
      this.#verified.delete(this.#verified.keys().next().value!);
    }
    this.#verified.set(key, payload);
    return true;
  }
}
