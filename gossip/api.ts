/**
 * The gossip layer's API: what a member is given ({@link GossipComponents}, {@link GossipInit})
 * and what it offers ({@link Gossip}). `engine.ts` implements it.
 *
 * @module
 */
import type { MemberMeta, MembershipView, MemberState } from "../lib/cluster/membership.ts";
import type { Clock } from "../lib/cluster/clock.ts";
import type { Random } from "../lib/cluster/random.ts";
import type { RecordStore, ReplicatedRecord } from "../lib/cluster/replicated_record.ts";
import type { Transport } from "../lib/cluster/transport.ts";
import { extensionDigest } from "../lib/cluster/extensions.ts";
import type { Logger } from "../lib/log.ts";
import type { TrustFactory } from "../lib/cluster/trust.ts";
import type { GossipConfig, GossipPreset } from "./config.ts";
import type { MemberTable } from "./members.ts";
import { MAX_INCARNATION } from "./messages.ts";
import { InvalidInputError } from "../lib/errors.ts";

/** The injected components ("components + init", as js-libp2p does it). */
export interface GossipComponents {
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly transport: Transport;
  /**
   * Who may say what about whom (see `lib/cluster/trust.ts`): cohort's roster
   * (`rosterTrust`), or `simTrust` in simulations.
   */
  readonly trust: TrustFactory;
  /**
   * The member table to start from. Default: an empty table of the member's own. Simulations
   * give each member a view of one table they all start from (`SharedMembers.view()`), which
   * holds only what that member sees differently.
   */
  readonly memberTable?: () => MemberTable;
}

/** What a member is and how it gossips. */
export interface GossipInit {
  /** Unique member name. */
  readonly name: string;
  /**
   * The member's metadata. `address` defaults to the transport's; `extensions` (default `[]`)
   * determines `extensionCount` and `extensionDigest`.
   */
  readonly meta?: Partial<MemberMeta>;
  /** Timing preset. @default "lan" */
  readonly preset?: GossipPreset;
  /** Overrides of single knobs of the preset. */
  readonly config?: Partial<GossipConfig>;
  /** Addresses joined by {@link Gossip.start} (and retried while no other member is known). */
  readonly seeds?: readonly string[];
  /**
   * Starting incarnation. A restarted member that persisted its incarnation passes a higher one;
   * otherwise it refutes its stale record when it first hears it. @default 0
   */
  readonly incarnation?: number;
  /**
   * Members known from a previous run (e.g. restored from `core_cluster_members`), added as
   * `alive` without events or gossip; probing corrects whatever is stale.
   */
  readonly peers?: readonly { name: string; incarnation: number; meta: MemberMeta }[];
  /**
   * Replicated records persisted by a previous run, restored at creation without events or
   * gossip (push-pulls carry them from there). Malformed and expired ones are skipped.
   */
  readonly records?: readonly ReplicatedRecord[];
  /**
   * Another member's {@link Gossip.exportState}, merged at {@link Gossip.start} as the answer
   * to a push-pull would be (events included): a joiner that got it with its admission knows
   * the whole cluster before its first message. Invalid state is logged and ignored.
   */
  readonly state?: unknown;
}

/** Counters for diagnostics and benchmarks. */
export interface GossipStats {
  messagesSent: number;
  messagesReceived: number;
  malformedDropped: number;
  probes: number;
  /** Probes that ended without an ack. */
  probesFailed: number;
  /**
   * Failed probes that raised no suspicion: without a nack from every relay asked, the target
   * was probed again first (see `gossip/probe.ts`).
   */
  probesDoubted: number;
  suspicions: number;
  refutations: number;
  listsFetched: number;
  /** Extension lists held (by digest): the local one and those members in the table run. */
  lists: number;
  queued: number;
  localHealth: number;
  /** Replicated records held (expired ones not yet purged included). */
  records: number;
  /** Replicated records received malformed and dropped. */
  recordsDropped: number;
  /** Replicated records received well-formed but refused (out of range, or by the trust). */
  recordsRefused: number;
  /** Member claims refused: unsigned second-hand, badly signed, or vouched for by a non-admitter. */
  claimsRefused: number;
  /** Claim signatures verified (each ≈ 0.1 ms of CPU under Node). */
  signaturesChecked: number;
  /** Claims about names that were not members (no evidence of an admission). */
  notMembers: number;
  /**
   * Push-pull exchanges other members opened that were dropped unanswered: too many waiting,
   * in count or in size (see `gossip/push_pull_answers.ts`).
   */
  openingsDropped: number;
  /**
   * Rests of push-pull states dropped before they were merged: their sender, or all senders,
   * had too many entries waiting for later turns (see `gossip/merge_queue.ts`).
   */
  mergesDropped: number;
  /** Entries of push-pull states waiting to be merged on later turns of the event loop. */
  mergeEntriesWaiting: number;
}

/** A running member: its membership view and replicated records, plus lifecycle. */
export interface Gossip extends MembershipView, RecordStore {
  /** See {@link MembershipView.lastHeartbeat}: the engine always has it. */
  lastHeartbeat(name: string): number | undefined;
  /** The resolved configuration. */
  readonly config: Readonly<GossipConfig>;
  /** The local member's current incarnation. */
  readonly incarnation: number;
  /** Starts receiving, probing and gossiping; joins the seeds in the background. */
  start(): void;
  /**
   * Takes in the starting state it was given ({@link GossipInit.state}), with its events, before
   * {@link Gossip.start} (which does it otherwise) and without receiving or sending anything: a
   * joiner does its heavy local work on it (writing it to its store) before any member hears
   * from it, so it answers every probe once it does. Does nothing the second time.
   */
  loadState(): void;
  /**
   * This member's member table, extension lists and records, as JSON-safe data for another
   * member's {@link GossipInit.state}.
   */
  exportState(): unknown;
  /**
   * Push-pulls with each address (skipping our own). Resolves with the number that answered
   * within `requestTimeoutMs`; never rejects.
   */
  join(addresses: readonly string[]): Promise<number>;
  /**
   * One gossip interval from now (once the bursts of what was just queued went out), compares
   * table digests with each address (skipping our own): a member that missed an update gets it
   * at once rather than at its next periodic push-pull, and one that has it answers with its
   * digests alone. For changes every member must hold soon, such as whom to trust.
   */
  sync(addresses: readonly string[]): void;
  /**
   * Graceful leave: spreads `left` (so no member reports us `dead`), keeps answering for
   * `leavePropagateMs`, then stops.
   */
  leave(): Promise<void>;
  /**
   * Changes the local metadata; bumps the incarnation and gossips at once. A change of versions
   * (schemas, extension list) is announced to every live member in one hop (dissemination.ts).
   */
  updateMeta(meta: Partial<Omit<MemberMeta, "extensionCount" | "extensionDigest">>): void;
  /**
   * Records `name`, a member this one has just admitted, as `alive` at incarnation 0 with the
   * metadata it starts with (`meta` as the joiner passes it to its own {@link GossipInit.meta},
   * its address included), and gossips the arrival at once: the cluster learns of a join from
   * the admission itself instead of from the joiner's first exchange. Until the joiner has been
   * heard from directly, a refused connection to it counts as a failed probe, not as a crash
   * (it may not listen yet). A no-op when `name` is already known (a previous run's record:
   * the joiner refutes it itself) or is this member.
   */
  admit(name: string, meta: Partial<MemberMeta> & { address: string }): void;
  /** Stops every timer and ignores further frames (no goodbye: the others see a failure). */
  stop(): void;
  /** Counters. */
  stats(): GossipStats;
  /** The state of one member without building a snapshot (hot paths, simulations). */
  stateOf(name: string): MemberState | undefined;
}

/**
 * A member's metadata as it starts: `given` over neutral defaults (role `member`, versions 0,
 * no app version, no extensions).
 */
export function startingMeta(address: string, given: Partial<MemberMeta> | undefined): MemberMeta {
  return {
    address,
    fingerprint: "",
    role: "member",
    schemaInternal: 0,
    schemaExternal: 0,
    appVersion: "",
    extensionCount: 0,
    extensionDigest: extensionDigest([]),
    ...given,
  };
}

/**
 * Throws {@link InvalidInputError} (field `name` or `incarnation`) unless `init` names the member
 * with 1 to 256 characters and gives an incarnation, if any, from 0 to {@link MAX_INCARNATION}.
 */
export function checkInit(init: GossipInit): void {
  if (typeof init.name !== "string" || init.name === "" || init.name.length > 256) {
    throw new InvalidInputError("Invalid gossip member name: expected 1 to 256 characters", {
      field: "name",
    });
  }
  if (
    init.incarnation !== undefined &&
    !(Number.isSafeInteger(init.incarnation) && init.incarnation >= 0 &&
      init.incarnation <= MAX_INCARNATION)
  ) {
    throw new InvalidInputError(
      `Invalid gossip incarnation: expected an integer from 0 to ${MAX_INCARNATION}`,
      { field: "incarnation" },
    );
  }
}
