/**
 * The {@link Trust} of simulations and engine tests: the same contract as the roster's
 * (`lib/cluster/roster_trust.ts`, tested together in `tests/gossip/trust_contract.ts`) at a
 * cost a thousand simulated members can afford. A signature is a 53-bit hash of the signer's
 * name and the payload: enough to tell a member's own claim from one forged by a test's
 * adversary that does not compute it, never a protection against anyone else. Membership is a
 * predicate the test chooses (default: every name is a member).
 *
 * @module
 */
import type { ReplicatedRecord } from "../lib/cluster/replicated_record.ts";
import type { Trust, TrustContext, TrustFactory } from "../lib/cluster/trust.ts";
import { hash53 } from "./hash.ts";

/** Options of {@link simTrust}. */
export interface SimTrustOptions {
  /** Which names have joined (may enter a table, sign, vouch). @default every name */
  readonly isMember?: (name: string) => boolean;
  /**
   * Whether `admitter` admitted `name` and its join is pending (see `Trust.mayVouch`).
   * @default any member for any name
   */
  readonly admitted?: (admitter: string, name: string) => boolean;
}

/** The simulation's signature of `payload` by `signer`. */
export function simSignature(signer: string, payload: string): string {
  return `sim.${hash53(`${signer}\n${payload}`).toString(36)}`;
}

/** Builds the simulation's trust (one factory serves every engine of a simulation). */
export function simTrust(options: SimTrustOptions = {}): TrustFactory {
  const isMember = options.isMember ?? (() => true);
  const admitted = options.admitted ?? (() => true);
  return (ctx: TrustContext): Trust => ({
    sign: (payload) => simSignature(ctx.name, payload),
    verify: (signer, payload, sig) =>
      isMember(signer) && typeof sig === "string" && sig === simSignature(signer, payload),
    isMember,
    mayVouch: (admitter, name) => isMember(admitter) && admitted(admitter, name),
    nameOf: (peer) => (isMember(peer) ? peer : undefined),
    fingerprintOf: () => undefined,
    seal: (record: ReplicatedRecord) => record,
    recordProblem: () => undefined,
  });
}
