/**
 * Members' own claims (`alive`, `left`): what is signed, how a received claim is checked, and
 * the local member's signatures. The rule (see `lib/cluster/trust.ts`): a claim about member X
 * is accepted when X signed it, when it arrives first-hand on X's own authenticated connection,
 * or, for X's starting metadata at incarnation 0, when the member that admitted X signed it
 * while X's join is pending. Nobody else can assert X's incarnation, versions or metadata.
 *
 * Verifying costs one ECDSA verification (≈ 0.1 ms under Node, ≈ 0.8 ms under Deno) per claim
 * that would change the table; claims already held are compared and dropped before, and verified
 * signatures are remembered, so a steady cluster verifies nothing. A sender whose signatures
 * keep failing gets {@link FAILURE_BUDGET} failed verifications a second; beyond, its signed
 * claims are refused unchecked until the second ends (an honest member never fails one), so a
 * flood of badly signed claims costs bounded CPU.
 *
 * @module
 */
import type { Clock } from "../lib/cluster/clock.ts";
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
  /**
   * The local member's own decision, or state it takes as its own (what its admitting member
   * handed it): accepted as it is (its signature, if any, is kept and relayed).
   */
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
/** Failed verifications allowed per sender per second before its claims go unchecked. */
export const FAILURE_BUDGET = 64;

/** Checks and makes claims for one engine. */
export class Claims {
  readonly #trust: Trust;
  readonly #clock: Clock;
  /** `signer NUL signature` → the payload it was verified for. */
  readonly #verified = new Map<string, string>();
  /** Failed verifications in the current second, by sender. */
  #failures = new Map<string, number>();
  #second = -Infinity;
  /** Claims refused (diagnostics). */
  refused = 0;
  /** Signatures checked (diagnostics: what verifying costs). */
  verifications = 0;

  constructor(trust: Trust, clock: Clock) {
    this.#trust = trust;
    this.#clock = clock;
  }

  /** Whether `name` has joined (may enter the member table). */
  isMember(name: string): boolean {
    return this.#trust.isMember(name);
  }

  /**
   * Whether metadata `m`, held or received about `name`, belongs to another identity than the
   * one the name has now: its certificate is not the one the trust knows for `name` (the member
   * was removed and a new one admitted under its name, with a new key; held in the table, that
   * is a former identity, since entries enter with the certificate the trust named then). Such
   * an entry says nothing about the member that holds the name now, whatever its incarnation.
   * `false` when the trust knows no certificate for `name` (a removed name, or a trust that
   * checks none).
   */
  isFormer(name: string, m: WireMeta): boolean {
    const fp = this.#trust.fingerprintOf(name);
    return fp !== undefined && m.fp !== fp;
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
    const from = p.sender ?? "";
    if (!this.#budget(from)) return false;
    this.verifications++;
    if (!this.#trust.verify(signer, payload, p.sg)) {
      this.#failures.set(from, (this.#failures.get(from) ?? 0) + 1);
      return false;
    }
    if (this.#verified.size >= CACHE) {
      this.#verified.delete(this.#verified.keys().next().value!);
    }
    this.#verified.set(key, payload);
    return true;
  }

  /** Whether `sender` may have one more signature checked in this second. */
  #budget(sender: string): boolean {
    const second = Math.floor(this.#clock.now() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      if (this.#failures.size) this.#failures = new Map();
    }
    return (this.#failures.get(sender) ?? 0) < FAILURE_BUDGET;
  }
}
