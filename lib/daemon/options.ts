/**
 * The daemon's options.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { CertificateIssuer } from "../net/cert_issuer.ts";
import type { DaemonHooks } from "./hooks.ts";
import type { GossipFactory } from "./gossip_port.ts";
import type { Caller, MemberService, MemberStatus } from "./service.ts";

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
  /**
   * Whether an app request (a path outside `/core`) reaches the handler while the member is not
   * online, where app requests otherwise get the member's 503 (the app's endpoints served before
   * initialisation or while waiting for an upgrade, and paths no endpoint has, which the router
   * answers 404). @default never
   */
  serveApp?: (request: Request, status: MemberStatus) => boolean;
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
