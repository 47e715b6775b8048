/**
 * The daemon's options, and the core state its lifecycle operations work on.
 *
 * @module
 */
import type { JsonValue } from "../cluster/membership.ts";
import type { ExtensionRegistry } from "../cluster/extensions.ts";
import type { MemberVersion } from "../cluster/compat.ts";
import type { Logger } from "../log.ts";
import { UnavailableError } from "../errors.ts";
import type { CertificateIssuer } from "../net/cert_issuer.ts";
import type { Listener } from "../net/serve.ts";
import type { Store } from "../store/open.ts";
import type { DaemonHooks } from "./hooks.ts";
import type { GossipFactory, GossipHandle } from "./gossip_port.ts";
import type { ClusterMembership } from "./membership.ts";
import type { Caller, MemberService, MemberStatus } from "./service.ts";
import type { DaemonConfig, StatePaths } from "./state_dir.ts";

/** A fetch handler as served by the listeners. */
export type Handler = (request: Request, caller: Caller) => Promise<Response>;

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  /** State directory; created (mode 0711) when missing. */
  stateDir: string;
  /** The app's API extensions, oldest first. @default [] */
  extensions?: readonly string[];
  /** Folder of the app's drizzle-kit migrations. @default none */
  appMigrations?: string;
  /**
   * The app's version string: 1 to 64 printable ASCII characters without spaces. `setAppVersion`
   * changes it until the daemon stops; the next start uses this value again. @default "0.0.0"
   */
  appVersion?: string;
  /** libSQL URL of the store. @default `file:<stateDir>/database/cohort.db` */
  databaseUrl?: string;
  /** Builds the HTTP handler for this member (cohort's routes, possibly wrapped by the app). */
  handler: (service: MemberService) => Handler;
  /** Builds the gossip member once the member serves HTTPS. */
  gossip: GossipFactory;
  /** Gossip timing preset. @default "lan" */
  gossipPreset?: "lan" | "local";
  /** App hooks (MicroCluster's names and moments). */
  hooks?: DaemonHooks;
  /**
   * How long a member may be down before restart gating stops waiting for it, in ms.
   * @default 0 (wait forever, as MicroCluster)
   */
  upgradeDeadGraceMs?: number;
  /** `strict` waits for every member to upgrade; `mixed` serves at once. @default "strict" */
  upgradePolicy?: "strict" | "mixed";
  /** Executable run when a member ahead of this one appears. @default $COHORT_CLUSTER_UPDATE */
  updateCommand?: string;
  /**
   * Largest random delay before the update command runs, in ms.
   * @default $COHORT_CLUSTER_UPDATE_DELAY seconds, else 30000
   */
  updateMaxDelayMs?: number;
  /** @default silentLogger */
  logger?: Logger;
  /**
   * Issues the member's certificates at bootstrap or join. The daemon owns it from then on and
   * closes it once initialised (or when it opens already initialised). Start it before loading
   * the daemon's modules so both load in parallel, as `createMember` does.
   * @default a certificate child process, started when the daemon opens uninitialised
   */
  certificateIssuer?: CertificateIssuer;
}

/** How {@link DaemonCore.startNetwork} starts. */
export interface NetworkStart {
  /** Addresses to push-pull with at start (a restart: the other members'). */
  seeds: readonly string[];
  /**
   * Fingerprints trusted until the replicated roster lists this member: a joiner's member list,
   * bridging the moment before the roster reached it.
   */
  provisional?: readonly string[];
  /** The admitting member's exported view, for a joiner (see `GossipSetup.initialState`). */
  initialState?: JsonValue;
  /**
   * This member's and the cluster's certificates and keys (PEM) when in hand (bootstrap, join);
   * otherwise read from the state directory.
   */
  identity?: { cert: string; key: string; clusterCert: string; clusterKey: string };
}

/** What the lifecycle helpers need from the daemon (see lifecycle.ts). */
export interface DaemonCore {
  readonly paths: StatePaths;
  readonly registry: ExtensionRegistry;
  readonly options: DaemonOptions;
  readonly logger: Logger;
  readonly store: Store;
  readonly service: MemberService;
  /** Lifecycle state (what `status()` reports). */
  phase: MemberStatus;
  config?: DaemonConfig;
  https?: Listener;
  gossip?: GossipHandle;
  membership?: ClusterMembership;
  /** PEM of the cluster certificate and key, and of this member's, once serving. */
  clusterCert?: string;
  clusterKey?: string;
  serverCert?: string;
  serverKey?: string;
  /** This member's version. */
  local(): MemberVersion;
  /** Starts HTTPS, gossip and the cluster view for `config`. */
  startNetwork(config: DaemonConfig, start: NetworkStart): Promise<void>;
  /** Stops gossip (leaving gracefully when asked), the view and HTTPS. */
  stopNetwork(leave: boolean): Promise<void>;
}

/**
 * The parts of a daemon that serve the cluster, once it is online.
 *
 * @throws {UnavailableError} while the member is uninitialised, starting or stopping
 */
export function online(
  core: DaemonCore,
): Required<Pick<DaemonCore, "config" | "gossip" | "membership">> {
  const { phase, config, gossip, membership } = core;
  if (phase !== "online" || !config || !gossip || !membership) {
    throw new UnavailableError("Database is not yet initialized");
  }
  return { config, gossip, membership };
}
