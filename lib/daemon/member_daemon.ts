/**
 * How a started member answers the routes and the app ({@link MemberDaemon}): the
 * {@link MemberService} and {@link AppStore} calls, each checked against the member's state
 * (`member.ts`, the owner of its state machine) and handed to the member, its network, its store
 * or the flow that does it (`flows/`). `daemon.ts` starts it.
 *
 * @module
 */
import { hostname } from "node:os";
import type { ExtensionRegistry } from "../cluster/extensions.ts";
import { checkAppVersion, DEFAULT_APP_VERSION } from "../cluster/app_version.ts";
import { wallClockOf } from "../cluster/clock.ts";
import { ConflictError, ForbiddenError, isCohortError, UnavailableError } from "../errors.ts";
import { fingerprint } from "../net/certificates.ts";
import { answerError, NOTIFIER_AGENT } from "./peers.ts";
import { type Logger, silentLogger } from "../log.ts";
import { dumpSql, executeSql, SQL_TIMEOUT_MS } from "../store/sql.ts";
import {
  type AppStore,
  followingClient,
  runSql,
  type SqlParams,
  type SqlRows,
} from "../app/store.ts";
import type { Client } from "@libsql/client";
import type { DaemonEnvironment } from "./environment.ts";
import type { DaemonEvents } from "./events.ts";
import { acceptJoin } from "./flows/accept_join.ts";
import { grantClaim } from "./flows/confirm_use.ts";
import { agreeToLeave } from "./flows/leave.ts";
import { removeMember } from "./flows/remove.ts";
import type { GossipHandle } from "./gossip_port.ts";
import { MEMBER_RECORD } from "../cluster/roster.ts";
import { Member } from "./member.ts";
import type { ReplicatedRecords } from "../records/records.ts";
import type { DaemonOptions } from "./options.ts";
import { statusOf } from "./phase.ts";
import type { StopOutcome } from "./stop_outcome.ts";
import type {
  ClusterMemberEntry,
  ControlRequest,
  ExtensionsReport,
  JoinRequest,
  JoinResponse,
  MemberAnswer,
  MemberNotification,
  MemberService,
  MemberStatus,
  ServerInfo,
  SqlResult,
  TokenInfo,
  UpgradeReport,
} from "./service.ts";
import type { StatePaths } from "./state_dir.ts";
import { JoinTokens } from "./tokens.ts";
import { type TokenClaim, TokenClaims } from "./token_claims.ts";
import { unavailable } from "./unavailable.ts";
import { extensionsReport, UpgradeTracker } from "./upgrade.ts";

/**
 * A started member as {@link MemberService} and {@link AppStore} (the `Daemon` that
 * `startDaemon` returns): each call checks the member's state and hands it to the member, its
 * network or the flow that does it.
 */
export class MemberDaemon implements MemberService, AppStore {
  readonly member: Member;
  readonly paths: StatePaths;
  readonly closed: Promise<StopOutcome>;
  readonly #tokens: JoinTokens;
  readonly #tracker: UpgradeTracker;
  readonly #logger: Logger;
  #appClient?: Client;

  constructor(
    paths: StatePaths,
    registry: ExtensionRegistry,
    options: DaemonOptions,
    env: DaemonEnvironment,
    release: () => void,
  ) {
    this.paths = paths;
    this.#logger = options.logger ?? silentLogger;
    this.member = new Member({
      paths,
      registry,
      options,
      env,
      logger: this.#logger,
      appVersion: options.appVersion ?? DEFAULT_APP_VERSION,
      service: this,
      release,
    });
    this.closed = this.member.closed;
    this.#tokens = new JoinTokens(
      () => this.member.online(),
      // A token's expiry and its tombstone's are dates the members vote on, each by its clock.
      wallClockOf(env.clock),
      new TokenClaims(paths, env.clock, this.#logger),
    );
    // Since when the upgrade target holds: a date in the report.
    this.#tracker = new UpgradeTracker(wallClockOf(env.clock));
  }

  get view(): GossipHandle | undefined {
    return this.member.network?.gossip;
  }

  get records(): ReplicatedRecords {
    return this.member.records;
  }

  on<E extends keyof DaemonEvents>(
    event: E,
    listener: (payload: DaemonEvents[E]) => void,
  ): () => void {
    return this.member.events.on(event, listener);
  }

  hasExtension(name: string, options: { scope?: "local" | "cluster" } = {}): boolean {
    if ((options.scope ?? "local") === "local") return this.member.registry.has(name);
    const net = this.member.network;
    return net ? extensionsReport(net.view, this.#common()).cluster.includes(name) : false;
  }

  #common() {
    return {
      // On the monotonic clock, as the view's down-since times (`ClusterView.liveness`).
      now: this.member.env.clock.now(),
      deadGraceMs: this.member.options.upgradeDeadGraceMs,
    };
  }

  /** The network of a member that serves its view (online or waiting). */
  #initialized() {
    const net = this.member.network;
    if (net && this.member.machine.is("online", "waiting")) return net;
    const status = statusOf(this.member.machine.phase);
    throw new UnavailableError(
      status === "starting" || status === "stopping"
        ? unavailable(status, []).message
        : "Database is not yet initialized",
    );
  }

  waitingFor(): string[] {
    return this.member.waitingFor();
  }

  nudge(): void {
    this.member.network?.gate?.recheck();
  }

  extensions(): ExtensionsReport {
    return extensionsReport(this.#initialized().view, this.#common());
  }

  upgradeStatus(): UpgradeReport {
    const net = this.#initialized();
    return this.#tracker.report(
      net.view,
      net.gate?.waitingSince ?? 0,
      net.gate?.decision?.excluded,
    );
  }

  status(): MemberStatus {
    return statusOf(this.member.machine.phase);
  }

  started(): boolean {
    return this.member.started;
  }

  info(): ServerInfo {
    const config = this.member.config;
    return {
      name: config?.name ?? hostname(),
      address: config?.address ?? "",
      version: this.member.appVersion,
      ready: this.member.machine.is("online"),
      extensions: [...this.member.registry.list],
    };
  }

  async setAppVersion(version: string): Promise<void> {
    checkAppVersion(version, "app_version");
    const m = this.member;
    if (m.machine.is("uninitialized")) {
      throw new ConflictError("Cannot set the app version: this member is not initialized yet");
    }
    const net = m.network;
    if (!net || !m.machine.is("online", "waiting")) {
      throw new UnavailableError(`Cannot set the app version: the member is ${this.status()}`);
    }
    const previous = m.appVersion;
    if (version === previous) return;
    m.setAppVersion(version);
    net.gossip.updateMeta({ appVersion: version });
    this.#logger.info("App version changed", { from: previous, to: version });
    net.persistence.touch();
    await net.persistence.written();
  }

  async notifyMembers(request: MemberNotification): Promise<MemberAnswer[]> {
    const net = this.#initialized();
    const self = net.config.name;
    const pinned = fingerprint(net.identity.clusterCert);
    const others = net.entries(true).filter((e) => e.name !== self)
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return await Promise.all(others.map(async ({ name, address }): Promise<MemberAnswer> => {
      try {
        const answer = await this.member.env.peers.request({
          address,
          ...request,
          headers: { "user-agent": NOTIFIER_AGENT },
          fingerprint: pinned,
          identity: net.identity,
          timeoutMs: NOTIFY_TIMEOUT_MS,
        });
        return answer.status < 300
          ? { name, ok: true }
          : { name, ok: false, error: answerError(answer) };
      } catch (err) {
        // The transport's errors are cohort's own (unreachable, a certificate not pinned).
        const reason = isCohortError(err) ? err.message : "it could not be reached";
        return { name, ok: false, error: reason };
      }
    }));
  }

  isTrusted(fp: string): boolean {
    return this.member.network?.view.isTrusted(fp) ?? false;
  }

  async initialize(request: ControlRequest): Promise<ServerInfo> {
    await this.member.initialize(request);
    return this.info();
  }

  clusterMembers(): Promise<ClusterMemberEntry[]> {
    const net = this.#initialized();
    return Promise.resolve(net.entries(this.member.machine.is("online")));
  }

  clusterMembersUtf8(): Promise<readonly Uint8Array[]> {
    const net = this.#initialized();
    return Promise.resolve(net.entriesUtf8(this.member.machine.is("online")));
  }

  /**
   * Whether `name` was removed, for a member asking about itself before it opens: a member (or
   * the local control socket) learns what this member holds; an untrusted certificate only that
   * it was removed itself, and only when this member saw that certificate leave `name`; every
   * other name gets the usual 403.
   */
  removalOf(
    name: string,
    callerFingerprint: string | undefined,
  ): { removed: boolean; version?: number } {
    const net = this.#initialized();
    const record = net.gossip.record(MEMBER_RECORD, name);
    if (callerFingerprint === undefined || net.view.isTrusted(callerFingerprint)) {
      if (record?.value === null) return { removed: true, version: record.version };
      if (callerFingerprint !== undefined) return { removed: false };
    } else {
      // The certificate that held `name` until this member saw it leave (removed, or replaced
      // by a new incarnation: this member's own memory, kept across restarts). The version is
      // the record held now (the tombstone, or the new incarnation's), which the asker compares
      // with its own record's: a new incarnation asking a member that has not heard of it yet
      // is not told it was removed. Any other certificate is answered alike for every name
      // (held, removed, handed on, or never held), so that none can list names.
      const at = net.former.removedAt(name, callerFingerprint);
      if (at !== undefined) return { removed: true, version: record?.version ?? at };
    }
    throw new ForbiddenError("Client certificate is not trusted by this cluster");
  }

  // deno-lint-ignore no-explicit-any
  database<DB>(open: (client: any) => DB): DB {
    this.#appClient ??= followingClient(() => this.member.store.client);
    return open(this.#appClient);
  }

  sql(query: string, params?: SqlParams): Promise<SqlRows> {
    return runSql(this.member.store.client, query, params);
  }

  executeSql(
    query: string,
    signal?: AbortSignal,
    timeoutMs?: number,
  ): Promise<{ results: SqlResult[] }> {
    return executeSql(this.member.store, query, { signal, timeoutMs: consoleLimit(timeoutMs) });
  }

  dumpSql(schemaOnly: boolean, signal?: AbortSignal, timeoutMs?: number): Promise<string> {
    return dumpSql(this.member.store, { schemaOnly, signal, timeoutMs: consoleLimit(timeoutMs) });
  }

  createToken(name: string, expireAfterMs: number): Promise<string> {
    return this.#tokens.create(name, expireAfterMs);
  }

  listTokens(): Promise<TokenInfo[]> {
    return this.#tokens.list();
  }

  revokeToken(name: string): Promise<void> {
    return this.#tokens.revoke(name);
  }

  acceptJoin(request: JoinRequest, signal?: AbortSignal): Promise<JoinResponse> {
    return acceptJoin(this.member, this.member.online(), this.#tokens, request, signal);
  }

  async claimToken(claim: TokenClaim): Promise<void> {
    await grantClaim(this.member, this.#initialized(), this.#tokens.claims, claim);
  }

  async releaseToken(claim: TokenClaim): Promise<void> {
    this.#initialized();
    await this.#tokens.claims.release(claim);
  }

  removeMember(name: string, force: boolean): Promise<void> {
    return removeMember(
      this.member,
      this.member.online(),
      name,
      force,
      this.member.reactions.forcing,
    );
  }

  resetSelf(force = false): Promise<void> {
    if (!this.member.network || !this.member.machine.is("online", "waiting")) {
      throw unavailable(this.status(), this.waitingFor());
    }
    return agreeToLeave(this.member, force);
  }

  requestShutdown(): Promise<StopOutcome> {
    // Let the current response reach the client before the listener closes.
    this.member.background.after("Shutdown", 10, () => this.stop());
    return this.member.stopWritten();
  }

  stop(): Promise<StopOutcome> {
    return this.member.stop();
  }
}

/** How long a member may take to answer a notification ({@link MemberDaemon.notifyMembers}), ms. */
export const NOTIFY_TIMEOUT_MS = 15_000;

/** A SQL console run's time limit: the caller's, within the console's own (`SQL_TIMEOUT_MS`). */
function consoleLimit(timeoutMs: number | undefined): number {
  return timeoutMs !== undefined && timeoutMs > 0
    ? Math.min(timeoutMs, SQL_TIMEOUT_MS)
    : SQL_TIMEOUT_MS;
}
