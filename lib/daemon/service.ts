/**
 * The contract between a member daemon and the HTTP routes that expose it. `routes/` programs
 * against this interface only, so it never needs to know how the daemon, the store or gossip
 * are built.
 *
 * @module
 */
import type { ReplicatedRecords } from "../records/records.ts";
import type { JsonValue } from "../json_value.ts";
import type { StartRefusal } from "./refusals.ts";
import type { StopOutcome } from "./stop_outcome.ts";
import type { TokenClaim } from "./token_claims.ts";

export type { TokenClaim } from "./token_claims.ts";

export type { StartRefusal } from "./refusals.ts";

/**
 * Lifecycle state of a member, with MicroCluster's wording for its database status:
 * `uninitialized` ("Database is not yet initialized"), `starting`, `waiting` (for other members
 * to upgrade), `online`, `stopping`.
 */
export type MemberStatus = "uninitialized" | "starting" | "waiting" | "online" | "stopping";

/** `GET /core/1.0` metadata (MicroCluster §2.1). */
export interface ServerInfo {
  /** Member name (the host name before initialisation). */
  name: string;
  /** `host:port` the member serves HTTPS on, `""` before initialisation. */
  address: string;
  /** The embedding app's version string. */
  version: string;
  /** `true` once the member serves the cluster API. */
  ready: boolean;
  /** Unified API extension list: internal first, then the app's. Always an array. */
  extensions: string[];
}

/** One element of `GET /core/1.0/cluster` (MicroCluster §2.2, plus cohort's fields). */
export interface ClusterMemberEntry {
  name: string;
  address: string;
  /** The member's own (server) certificate, PEM. */
  certificate: string;
  /** Hex SHA-256 of `certificate`. */
  fingerprint: string;
  /** `PENDING`, `voter`, `stand-by` or `spare`. */
  role: string;
  schema_internal_version: number;
  schema_external_version: number;
  /** RFC 3339 time of the last heartbeat seen, `"0001-01-01T00:00:00Z"` when never. */
  last_heartbeat: string;
  /** `ONLINE`, `UNREACHABLE`, `SUSPECT`, `UPGRADING`, `NEEDS UPGRADE`. */
  status: string;
  extensions: string[];
  /**
   * Its extension list compared with this member's (`ahead`: this member is ahead of it),
   * `unknown` while its list has not arrived yet.
   */
  extension_verdict: { verdict: string; missing: string[]; extra: string[] };
  /** The embedding app's version string on that member. */
  app_version: string;
  /**
   * cohort only: its last start was refused (with versions it never ran, so nobody counts it
   * with them); shown until it next runs.
   */
  start_refused?: StartRefusal;
}

/** `POST /core/internal/cluster` body: a prospective member asks to join. */
export interface JoinRequest {
  name: string;
  address: string;
  /** The joiner's certificate (PEM); its SAN must contain `name`. */
  certificate: string;
  schema_internal_version: number;
  schema_external_version: number;
  extensions: string[];
  /**
   * cohort only: the joiner's app version. With it the accepting member announces the joiner's
   * arrival itself, with the exact metadata the joiner starts with; without it (a MicroCluster
   * client) the joiner announces itself.
   */
  app_version?: string;
  /** The token's secret. */
  secret: string;
}

/** A cluster member as carried in a join response. */
export interface MemberIdentity {
  name: string;
  address: string;
  certificate: string;
}

/** `POST /core/internal/cluster` response metadata (MicroCluster's TokenResponse). */
export interface JoinResponse {
  cluster_cert: string;
  /** The cluster's private key (PEM): every member serves the cluster certificate. */
  cluster_key: string;
  cluster_members: MemberIdentity[];
  trusted_member: MemberIdentity;
  /**
   * cohort only: the accepting member's gossip view, so the joiner knows every member at once
   * (MicroCluster clients ignore it).
   */
  gossip_state?: JsonValue;
}

/** One element of `GET /core/control/tokens`. */
export interface TokenInfo {
  name: string;
  /** RFC 3339, or `null` when the token never expires. */
  expires_at: string | null;
}

/** `POST /core/control` body, validated. */
export interface ControlRequest {
  bootstrap: boolean;
  name: string;
  address: string;
  join_token?: string;
  config?: Record<string, string>;
}

/** One statement's result in `POST /core/internal/sql` (MicroCluster §2.5). */
export type SqlResult =
  | { type: "select"; columns: string[]; rows: unknown[][] }
  | { type: "exec"; rows_affected: number };

/** Who is calling, as established by the listener (unix socket or mutual TLS). */
export interface Caller {
  /** `unix`: the local control socket, always trusted. `https`: the network listener. */
  transport: "unix" | "https";
  /** SHA-256 hex fingerprint of the client certificate, when one was presented. */
  peerFingerprint?: string;
  /** Remote address, for logs. */
  remoteAddress?: string;
}

/** What the routes may ask of a member daemon. */
export interface MemberService {
  /**
   * The app's replicated records: small shared state every member sees (put / get / delete /
   * list by prefix / watch, last writer wins). See `lib/records/records.ts`.
   */
  readonly records: ReplicatedRecords;
  /** Current lifecycle state. */
  status(): MemberStatus;
  /**
   * Whether the daemon has started (MicroCluster's ready channel): true from the end of its
   * start (the control socket serves; an initialised member has rejoined, possibly to wait for
   * an upgrade; `onStart` has run) until it stops, through `init` and removal alike.
   */
  started(): boolean;
  /** Server info for `GET /core/1.0`. */
  info(): ServerInfo;
  /** Reports whether a client certificate fingerprint belongs to a cluster member. */
  isTrusted(fingerprint: string): boolean;
  /** Initialises this member: bootstrap a new cluster, or join one with a token. */
  initialize(request: ControlRequest): Promise<ServerInfo>;
  /** The cluster's members as this member sees them. */
  clusterMembers(): Promise<ClusterMemberEntry[]>;
  /**
   * {@link MemberService.clusterMembers} serialised as a JSON array, as its UTF-8 bytes in
   * chunks to be sent in order, when the service keeps it encoded (`GET /core/1.0/cluster` then
   * serialises and encodes nothing). The chunks are the service's: callers must not change them.
   */
  clusterMembersUtf8?(): Promise<readonly Uint8Array[]>;
  /**
   * Runs `;`-separated SQL statements against the local store (off the event loop; cohort's own
   * tables are read-only), cancelled when `signal` aborts or after `timeoutMs` (at most, and by
   * default, the console's time limit: `SQL_TIMEOUT_MS`).
   */
  executeSql(
    query: string,
    signal?: AbortSignal,
    timeoutMs?: number,
  ): Promise<{ results: SqlResult[] }>;
  /** A text dump of the store (schema only when asked), cancelled as {@link executeSql}. */
  dumpSql(schemaOnly: boolean, signal?: AbortSignal, timeoutMs?: number): Promise<string>;
  /**
   * Asks the daemon to stop once the current response has been sent. Resolves once the stop has
   * written what it had to, or failed to (while the control socket still answers): how it went.
   */
  requestShutdown(): Promise<StopOutcome>;
  /** Issues a join token for member `name`; `expireAfterMs` 0 = never. Returns the token. */
  createToken(name: string, expireAfterMs: number): Promise<string>;
  /** Unexpired, unused tokens. */
  listTokens(): Promise<TokenInfo[]>;
  /** Revokes the token issued for `name`. */
  revokeToken(name: string): Promise<void>;
  /**
   * Admits (or refuses, with the reason) a prospective member, once a majority of the roster
   * claimed its token for it (single use across members: see `flows/confirm_use.ts`). `signal`
   * aborts when the joiner stopped waiting (its connection closed): it is then refused rather
   * than admitted after it gave up.
   */
  acceptJoin(request: JoinRequest, signal?: AbortSignal): Promise<JoinResponse>;
  /**
   * Claims a join token for one joining machine, asked by the member about to admit it: granted
   * (durably) unless this member knows the token used, revoked, expired or issued for another
   * name, or another machine holds it.
   *
   * @throws {ForbiddenError} for those token refusals
   * @throws {ConflictError} when a member of that name exists
   * @throws {UnavailableError} while this member does not serve its view
   */
  claimToken(claim: TokenClaim): Promise<void>;
  /** Releases a claim of {@link claimToken} (the join was refused); a no-op for another machine. */
  releaseToken(claim: TokenClaim): Promise<void>;
  /** Removes member `name` from the cluster (`force`: even when it cannot be reached). */
  removeMember(name: string, force: boolean): Promise<void>;
  /**
   * This member is asked to leave: runs the preRemove hook (a throw rejects, unless `force`),
   * then, once the caller has had its answer, leaves, wipes its cluster state and stays running.
   */
  resetSelf(force?: boolean): Promise<void>;
  /**
   * Whether member `name` was removed (its roster record is a tombstone, written at `version`,
   * or, for the removed certificate, the record of that version of a new incarnation admitted
   * after a removal), asked by a member about itself before it opens after a restart. A caller
   * whose certificate `callerFingerprint` is not trusted learns only its own removal, when this
   * member saw that certificate leave `name`: every other name is answered as one not held
   * (removed, handed on, held or never held alike), so that no certificate lists names.
   *
   * @throws {ForbiddenError} for an untrusted caller, unless its certificate left `name`
   * @throws {UnavailableError} while this member does not serve its view
   */
  removalOf(name: string, callerFingerprint?: string): { removed: boolean; version?: number };
  /** Names of the members a waiting member waits for (empty when not waiting). */
  waitingFor(): string[];
  /** Re-runs the upgrade gate now (`PATCH /core/internal/database`). */
  nudge(): void;
  /** This member's extensions, the cluster's common ones, and each member's verdict. */
  extensions(): ExtensionsReport;
  /** Upgrade progress: target versions, members done and pending. */
  upgradeStatus(): UpgradeReport;
  /**
   * Changes this member's app version at runtime, without a restart: `GET /core/1.0` reports it
   * at once, every member's `GET /core/1.0/cluster` within a gossip round trip (the update is
   * pushed, not waited for), and the local `core_cluster_members` row holds it when this
   * resolves. It lasts until the daemon stops: the next start uses `appVersion`
   * (`--app-version`, default `0.0.0`) again.
   *
   * @param version 1 to 64 printable ASCII characters without spaces, e.g. `"1.2.3"`.
   * @throws {InvalidInputError} when `version` breaks that rule (field `app_version`).
   * @throws {ConflictError} when the member is not initialised (nothing to announce it to).
   * @throws {UnavailableError} while the member starts its network or shuts down.
   */
  setAppVersion(version: string): Promise<void>;
  /**
   * Sends `request` to every other member of the cluster (each one in the roster, reachable or
   * not) as a notification (`NOTIFIER_AGENT`: each handles it for itself and sends it on to
   * nobody), in parallel, this member's certificate presented and the cluster's pinned, each
   * within `NOTIFY_TIMEOUT_MS`. Resolves with every member's answer, in name order; one
   * member's failure is its answer, never a throw.
   *
   * @throws {UnavailableError} while this member does not serve its view
   */
  notifyMembers(request: MemberNotification): Promise<MemberAnswer[]>;
}

/** A request {@link MemberService.notifyMembers} sends on to every other member. */
export interface MemberNotification {
  method: "PUT" | "POST" | "DELETE";
  /** Path and query, e.g. `/core/1.0/cluster/certificates/web`. */
  path: string;
  /** JSON body. */
  body: unknown;
}

/** One member's answer to a {@link MemberNotification}. */
export interface MemberAnswer {
  /** The member's name. */
  name: string;
  /** Whether it answered with a success (2xx). */
  ok: boolean;
  /** Why not: its error message, or that it could not be reached. */
  error?: string;
}

/** `GET /core/1.0/extensions` metadata. */
export interface ExtensionsReport {
  /** This member's list. */
  local: string[];
  /** The longest prefix shared by every member: safe to use cluster-wide now. */
  cluster: string[];
  /** Each member's list compared with this member's. */
  members: Record<string, { verdict: string; missing: string[]; extra: string[] }>;
}

/** `GET /core/1.0/upgrade` metadata. */
export interface UpgradeReport {
  /** The newest versions any member runs. */
  target: { schema_internal: number; schema_external: number; extensions: number };
  /** `true` when every member runs the target. */
  complete: boolean;
  /** Members that run the target. */
  done: string[];
  /** Members that do not, and what they lack. */
  pending: { name: string; lacks: string }[];
  /** When this member first saw the current target (RFC 3339). */
  since: string;
  /** When this member started waiting for the others (RFC 3339), or `null`. */
  waiting_since: string | null;
  /**
   * Members this member's gate left out because they had been down for longer than
   * `--upgrade-dead-grace` (they no longer hold the upgrade back).
   */
  excluded: string[];
  /** Members whose last start was refused, and with what (until they next run). */
  refused: ({ name: string } & StartRefusal)[];
}
