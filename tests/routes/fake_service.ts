/** A scriptable in-memory MemberService for route tests. */
import { systemClock } from "../../lib/cluster/clock.ts";
import { ConflictError, ForbiddenError, UnavailableError } from "../../lib/errors.ts";
import { memoryRecords } from "../records/memory_store.ts";
import type { StopOutcome } from "../../lib/daemon/stop_outcome.ts";
import type {
  Caller,
  ClusterMemberEntry,
  ControlRequest,
  JoinRequest,
  JoinResponse,
  MemberAnswer,
  MemberNotification,
  MemberService,
  MemberStatus,
  ServerInfo,
  SqlResult,
  TokenClaim,
  TokenInfo,
} from "../../lib/daemon/service.ts";

export class FakeService implements MemberService {
  state: MemberStatus = "uninitialized";
  name = "host1";
  address = "";
  trusted = new Set<string>(["trusted-fp"]);
  initialized: ControlRequest[] = [];
  shutdowns = 0;
  sqlQueries: string[] = [];
  /** The time limit of each SQL console call (ms; undefined: none given), in order. */
  sqlTimeouts: (number | undefined)[] = [];
  fault?: Error;
  version = "1.2.3";
  appVersions: string[] = [];
  readonly records = memoryRecords(systemClock, () => this.state === "online");

  status(): MemberStatus {
    return this.state;
  }
  /** Whether the daemon has finished starting (see MemberService.started). */
  up = true;
  started(): boolean {
    return this.up && this.state !== "stopping";
  }
  info(): ServerInfo {
    return {
      name: this.name,
      address: this.address,
      version: this.version,
      ready: this.state === "online",
      extensions: ["internal:runtime_extension_v1", "a"],
    };
  }
  isTrusted(fingerprint: string): boolean {
    return this.trusted.has(fingerprint);
  }
  initialize(request: ControlRequest): Promise<ServerInfo> {
    if (this.fault) return Promise.reject(this.fault);
    if (this.state !== "uninitialized") {
      return Promise.reject(
        new ConflictError(
          `Cannot initialize this member: it is already initialized as "${this.name}"`,
        ),
      );
    }
    this.initialized.push(request);
    this.state = "online";
    this.name = request.name;
    this.address = request.address;
    return Promise.resolve(this.info());
  }
  clusterMembers(): Promise<ClusterMemberEntry[]> {
    if (this.fault) return Promise.reject(this.fault);
    return Promise.resolve([{
      name: this.name,
      address: this.address,
      certificate: "PEM",
      fingerprint: "trusted-fp",
      role: "voter",
      schema_internal_version: 1,
      schema_external_version: 0,
      last_heartbeat: "0001-01-01T00:00:00Z",
      status: "ONLINE",
      extensions: this.info().extensions,
      extension_verdict: { verdict: "equal", missing: [], extra: [] },
      app_version: this.version,
    }]);
  }
  executeSql(
    query: string,
    _signal?: AbortSignal,
    timeoutMs?: number,
  ): Promise<{ results: SqlResult[] }> {
    if (this.fault) return Promise.reject(this.fault);
    this.sqlQueries.push(query);
    this.sqlTimeouts.push(timeoutMs);
    return Promise.resolve({ results: [{ type: "exec", rows_affected: 1 }] });
  }
  dumpSql(schemaOnly: boolean, _signal?: AbortSignal, timeoutMs?: number): Promise<string> {
    this.sqlTimeouts.push(timeoutMs);
    return Promise.resolve(schemaOnly ? "CREATE TABLE t (x);" : "CREATE TABLE t (x);\nINSERT;");
  }
  /** What a shutdown request's stop resolves to. */
  stopOutcome: StopOutcome = { stored: true };
  requestShutdown(): Promise<StopOutcome> {
    this.shutdowns++;
    return Promise.resolve(this.stopOutcome);
  }
  tokens: { name: string; expireAfterMs: number }[] = [];
  joins: JoinRequest[] = [];
  removals: { name: string; force: boolean }[] = [];
  resets = 0;
  createToken(name: string, expireAfterMs: number): Promise<string> {
    this.tokens.push({ name, expireAfterMs });
    return Promise.resolve(`token-for-${name}`);
  }
  listTokens(): Promise<TokenInfo[]> {
    return Promise.resolve(this.tokens.map((t) => ({ name: t.name, expires_at: null })));
  }
  revokeToken(name: string): Promise<void> {
    this.tokens = this.tokens.filter((t) => t.name !== name);
    return Promise.resolve();
  }
  claims: TokenClaim[] = [];
  claimToken(claim: TokenClaim): Promise<void> {
    if (this.fault) return Promise.reject(this.fault);
    this.claims.push(claim);
    return Promise.resolve();
  }
  releaseToken(claim: TokenClaim): Promise<void> {
    this.claims = this.claims.filter((c) => c.hash !== claim.hash);
    return Promise.resolve();
  }
  acceptJoin(request: JoinRequest): Promise<JoinResponse> {
    if (this.fault) return Promise.reject(this.fault);
    this.joins.push(request);
    const me = { name: this.name, address: this.address, certificate: "PEM" };
    return Promise.resolve({
      cluster_cert: "CERT",
      cluster_key: "KEY",
      cluster_members: [me],
      trusted_member: me,
    });
  }
  removeMember(name: string, force: boolean): Promise<void> {
    if (this.fault) return Promise.reject(this.fault);
    this.removals.push({ name, force });
    return Promise.resolve();
  }
  waiting: string[] = [];
  nudges = 0;
  waitingFor(): string[] {
    return this.waiting;
  }
  /** "gone" was removed; anyone else is a member, told only to the trusted caller. */
  removalOf(name: string, callerFingerprint?: string): { removed: boolean; version?: number } {
    if (name === "gone") return { removed: true, version: 1 };
    if (callerFingerprint === "trusted-fp") return { removed: false };
    throw new ForbiddenError("Client certificate is not trusted by this cluster");
  }
  nudge(): void {
    this.nudges++;
  }
  extensions() {
    return {
      local: this.info().extensions,
      cluster: ["internal:runtime_extension_v1"],
      members: {},
    };
  }
  upgradeStatus() {
    return {
      target: { schema_internal: 2, schema_external: 0, extensions: 2 },
      complete: true,
      done: [this.name],
      pending: [],
      since: "2026-01-01T00:00:00.000Z",
      waiting_since: null,
      excluded: [],
      refused: [],
    };
  }
  setAppVersion(version: string): Promise<void> {
    if (this.fault) return Promise.reject(this.fault);
    this.appVersions.push(version);
    this.version = version;
    return Promise.resolve();
  }
  /** The notifications sent on (`notifyMembers`), in order. */
  notifications: MemberNotification[] = [];
  /** What the other members answer each notification. */
  notified: MemberAnswer[] = [];
  notifyMembers(request: MemberNotification): Promise<MemberAnswer[]> {
    if (this.state !== "online" && this.state !== "waiting") {
      return Promise.reject(new UnavailableError("Database is not yet initialized"));
    }
    this.notifications.push(request);
    return Promise.resolve(this.notified);
  }
  resetForces: boolean[] = [];
  resetSelf(force = false): Promise<void> {
    this.resets++;
    this.resetForces.push(force);
    return Promise.resolve();
  }
}

export const UNIX: Caller = { transport: "unix" };
export const TRUSTED: Caller = { transport: "https", peerFingerprint: "trusted-fp" };
export const STRANGER: Caller = { transport: "https", peerFingerprint: "other-fp" };
export const ANONYMOUS: Caller = { transport: "https" };
