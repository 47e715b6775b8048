/**
 * Who may say what about whom in the gossip layer: the {@link Trust} component the engine is
 * built with, beside its clock and transport. Every claim that travels beyond the member that
 * made it is either signed by the member it is about or refused, so a member that holds a
 * trusted certificate can still only speak for itself:
 *
 * - **Member claims.** `alive` (incarnation + metadata) and `left` about member X are X's own
 *   statements: accepted when signed with X's key, or first-hand on X's own authenticated
 *   connection. One exception: the member that admitted X may vouch for X's starting metadata at
 *   incarnation 0 while X's join is pending ({@link Trust.mayVouch}). What that allows: the
 *   admitting member can announce its joiner with metadata of its choosing (versions included)
 *   until the joiner starts and refutes any difference, one step above; a joiner that never
 *   starts keeps what its admitting member said until it is removed. That is no more than the
 *   admitting member could do by running the joiner itself with the key it chose: admitting is
 *   every member's right (a token), removing too.
 * - **Accusations** (`suspect`, `dead`) are anyone's to make, as in SWIM, but never raise an
 *   incarnation, so the accused can always refute them one step above its own incarnation; a
 *   suspicion is confirmed only in the name of members.
 * - **Table admission.** A name enters the member table only when {@link Trust.isMember} says it
 *   joined (for cohort: it has a live roster record, written at its admission).
 * - **Records.** {@link Trust.recordProblem} decides whether a replicated record from the network
 *   may replace the one held (for cohort: `lib/cluster/roster_trust.ts`), and
 *   {@link Trust.seal} signs a local write.
 *
 * Two implementations share one contract (`tests/gossip/trust_contract.ts`): the roster's
 * (ECDSA P-256 member keys, `lib/cluster/roster_trust.ts`) and the simulation's
 * (`gossip/sim_trust.ts`: cheap, deterministic, for thousands of simulated members).
 *
 * @module
 */
import type { RecordStore, ReplicatedRecord } from "./replicated_record.ts";

/** The engine's authority over claims and records; see the module docs. */
export interface Trust {
  /** Signs `payload` as the local member (with its member key). */
  sign(payload: string): string;
  /**
   * Whether `sig` is `signer`'s signature of `payload`. `false` when `signer` is not a live
   * member (its key is unknown), and for any malformed signature; never throws.
   */
  verify(signer: string, payload: string, sig: string): boolean;
  /** Whether `name` has joined the cluster (evidence of an admission): only members enter the table. */
  isMember(name: string): boolean;
  /**
   * Whether `admitter` may vouch for `name`'s starting metadata (incarnation 0): it admitted
   * `name` and the join is still pending.
   */
  mayVouch(admitter: string, name: string): boolean;
  /** The member name behind an authenticated transport peer (see `TransportHandlers.message`). */
  nameOf(peer: string): string | undefined;
  /**
   * The certificate fingerprint a claim about `name` must carry, when the trust knows it
   * (`undefined`: not checked).
   */
  fingerprintOf(name: string): string | undefined;
  /** A local write, completed before it is stored and gossiped (signatures added). */
  seal(record: ReplicatedRecord): ReplicatedRecord;
  /**
   * Why a record received from the network (already checked for shape, size and version range)
   * must not replace `held` (the record held for its kind and key, `undefined` when none);
   * `undefined` when it may. `trusted`: the record comes from the state an admitting member
   * handed this member at its join, which it trusts as it trusts that member.
   */
  recordProblem(
    record: ReplicatedRecord,
    held: ReplicatedRecord | undefined,
    trusted: boolean,
  ): string | undefined;
  /**
   * Whether a record received from the network replaces `held` although the merge rule
   * (`compareRecords`) orders it first (for cohort: a removal over a later write of the
   * incarnation it removed). The record is then checked with {@link recordProblem} as any
   * other. Absent: never.
   */
  overrides?(record: ReplicatedRecord, held: ReplicatedRecord): boolean;
}

/** What a {@link TrustFactory} is given: the engine's record table and its changes. */
export interface TrustContext {
  /** The local name. */
  readonly name: string;
  readonly records: RecordStore;
  /** The member's wall clock, ms since the epoch (what record versions are dated by). */
  now(): number;
  /**
   * Calls `listener` after every change of the record table (not for restored records), with
   * the record it replaced.
   */
  onRecordChange(
    listener: (record: ReplicatedRecord, previous: ReplicatedRecord | undefined) => void,
  ): void;
}

/** Builds the {@link Trust} of one engine (the engine calls it once, at creation). */
export type TrustFactory = (context: TrustContext) => Trust;
