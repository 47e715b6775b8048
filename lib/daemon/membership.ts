/**
 * The daemon's view of its cluster: the roster (replicated `member` records) joined with the
 * gossip layer's liveness and metadata. It derives the trust set, the roles (the leaderless rule
 * of lib/cluster/roles.ts), the `GET /core/1.0/cluster` entries, and persists the merged view
 * into `core_cluster_members` in batches, never on every frame.
 *
 * @module
 */
import { compareVersions, type MemberVersion } from "../cluster/compat.ts";
import type { MemberInfo, ReplicatedRecord } from "../cluster/membership.ts";
import { assignRoles, type Role } from "../cluster/roles.ts";
import {
  hasJoined,
  isPersistedKind,
  MEMBER_RECORD,
  type RosterEntry,
  rosterOf,
  TOKEN_RECORD,
  tokensOf,
} from "../cluster/roster.ts";
import { replaceTokens } from "../store/tokens.ts";
import type { Logger } from "../log.ts";
import { deleteMember, listMembers, type NewMember, upsertMembers } from "../store/members.ts";
import { saveRecords } from "../store/records.ts";
import type { Store } from "../store/open.ts";
import { heartbeatTime } from "./entries.ts";
import type { GossipHandle } from "./gossip_port.ts";
import type { ClusterMemberEntry } from "./service.ts";

/** How often the merged view is written to the store, in ms. */
export const PERSIST_INTERVAL_MS = 1000;

/** Options of {@link ClusterMembership}. */
export interface ClusterMembershipOptions {
  name: string;
  gossip: GossipHandle;
  store: Store;
  /** This member's version (schema versions and extensions). */
  local: MemberVersion;
  /** This member's app version at start; {@link ClusterMembership.setAppVersion} changes it. */
  appVersion: string;
  logger: Logger;
  /** Called after the trust set changed (e.g. to cut removed members' connections). */
  onTrustChange?: () => void;
  /** Called when this member's own roster record became a tombstone (it was removed). */
  onSelfRemoved?: () => void;
  /** Called with the name of every other member that was removed after its join completed. */
  onMemberRemoved?: (name: string) => void;
  /** Called with the name of every member whose join completed (see `RosterEntry.joining`). */
  onMemberAdded?: (name: string) => void;
  /** Called when this member's role changes (the `onHeartbeat` hook's moment). */
  onRoleChange?: (role: Role, previous: Role) => void;
}

/** The roster joined with gossip liveness; see the module docs. */
export class ClusterMembership {
  readonly #o: ClusterMembershipOptions;
  #roster = new Map<string, RosterEntry>();
  #trust = new Set<string>();
  #seenAlive = new Set<string>();
  #storedHeartbeat = new Map<string, number>();
  #storedVersion = new Map<string, MemberVersion>();
  #dirtyRecords = new Map<string, ReplicatedRecord>();
  #dirtyView = true;
  #removed: string[] = [];
  #timer?: ReturnType<typeof setInterval>;
  #unsubscribe: (() => void)[] = [];
  #role: Role = "PENDING";
  #roleSuspects = new Set<string>();
  #roleReported = new Set<string>();
  #flushing?: Promise<void>;
  #appVersion: string;

  constructor(options: ClusterMembershipOptions) {
    this.#o = options;
    this.#appVersion = options.appVersion;
  }

  /** Loads stored heartbeats, derives trust and roles, and starts listening and persisting. */
  async start(): Promise<void> {
    for (const m of await listMembers(this.#o.store)) {
      this.#storedHeartbeat.set(m.name, m.heartbeat);
      // A member that gossip no longer (or not yet) knows still counts with its last known
      // versions for upgrade gating. An empty list was never learned: every member has at least
      // cohort's internal extension.
      if (m.extensions.length) {
        this.#storedVersion.set(m.name, {
          schemaInternal: m.schemaInternal,
          schemaExternal: m.schemaExternal,
          extensions: m.extensions,
        });
      }
    }
    this.#reloadRoster();
    const g = this.#o.gossip;
    const touch = (e: { member: MemberInfo }) => {
      if (e.member.state === "alive") this.#seenAlive.add(e.member.name);
      this.#dirtyView = true;
      this.#updateRole();
    };
    for (const ev of ["member-join", "member-update", "member-suspect"] as const) {
      this.#unsubscribe.push(g.on(ev, touch));
    }
    for (const ev of ["member-failed", "member-left"] as const) {
      this.#unsubscribe.push(g.on(ev, touch));
    }
    this.#unsubscribe.push(g.on("record-change", ({ record, previous }) => {
      if (!isPersistedKind(record)) return;
      this.#dirtyRecords.set(`${record.kind}\n${record.key}`, record);
      if (record.kind !== MEMBER_RECORD) return;
      this.#reloadRoster();
      this.#dirtyView = true;
      // For the hooks, a member counts from the moment its join completed (its preJoin passed),
      // as in MicroCluster: one whose join was undone was never added, nor is it removed.
      const was = hasJoined(previous?.value as RosterEntry | null | undefined);
      if (hasJoined(record.value as RosterEntry | null) && !was) {
        this.#o.onMemberAdded?.(record.key);
      }
      if (record.value === null && previous != null && previous.value !== null) {
        if (record.key === this.#o.name) this.#o.onSelfRemoved?.();
        else {
          this.#removed.push(record.key);
          if (was) this.#o.onMemberRemoved?.(record.key);
        }
      }
      this.#updateRole();
    }));
    this.#seenAlive.add(this.#o.name);
    this.#updateRole();
    const timer = setInterval(() => {
      this.#checkAnnouncedRoles();
      void this.flush();
    }, PERSIST_INTERVAL_MS);
    (timer as { unref?: () => void }).unref?.();
    this.#timer = timer;
  }

  /** Stops listening; writes what is pending. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe = [];
    await this.flush();
  }

  /** This member's app version, as gossiped and listed. */
  get appVersion(): string {
    return this.#appVersion;
  }

  /**
   * Changes this member's app version (already validated): gossips it at once (the engine bumps
   * the incarnation, so every member takes the new metadata) and resolves once the local
   * `core_cluster_members` row holds it. A failed write is retried by the next batch.
   */
  async setAppVersion(version: string): Promise<void> {
    const previous = this.#appVersion;
    if (version === previous) return;
    this.#appVersion = version;
    this.#o.gossip.updateMeta({ appVersion: version });
    this.#o.logger.info("App version changed", { from: previous, to: version });
    this.#dirtyView = true;
    // A batch already under way may have read the view before the change: write again after it.
    await this.#flushing;
    await this.flush();
  }

  /** Reports whether a certificate fingerprint belongs to a live roster member. */
  isTrusted(fingerprint: string): boolean {
    return this.#trust.has(fingerprint);
  }

  /** The live roster, by name. */
  roster(): ReadonlyMap<string, RosterEntry> {
    return this.#roster;
  }

  /** This member's role by the rule. */
  get role(): Role {
    return this.#role;
  }

  /** Addresses of roster members that gossip believes alive (ours included), for tokens. */
  liveAddresses(): string[] {
    const out: string[] = [];
    for (const [name, entry] of this.#roster) {
      const info = this.#o.gossip.member(name);
      if (name === this.#o.name || info?.state === "alive" || info?.state === "suspect") {
        out.push(entry.address);
      }
    }
    return out;
  }

  #reloadRoster(): void {
    this.#roster = rosterOf(this.#o.gossip);
    const trust = new Set<string>();
    for (const entry of this.#roster.values()) trust.add(entry.fingerprint);
    const shrank = [...this.#trust].some((fp) => !trust.has(fp));
    this.#trust = trust;
    if (shrank) this.#o.onTrustChange?.();
  }

  /** Roles of every roster member by the leaderless rule. */
  roles(): Map<string, Role> {
    const candidates = [...this.#roster].map(([name, entry]) => {
      const state = name === this.#o.name ? "alive" : this.#o.gossip.member(name)?.state;
      return {
        name,
        joinedAt: entry.joinedAt,
        live: state === "alive" || state === "suspect",
        // Until its preJoin passed (it is announced alive from its admission on), or while never
        // heard of at all.
        pending: !hasJoined(entry) ||
          (!this.#seenAlive.has(name) && !(this.#storedHeartbeat.get(name)! > 0)),
      };
    });
    return assignRoles(candidates);
  }

  #updateRole(): void {
    const role = this.roles().get(this.#o.name) ?? "PENDING";
    if (role === this.#role) return;
    const old = this.#role;
    this.#role = role;
    this.#o.gossip.updateMeta({ role });
    this.#o.logger.info("Role changed", { from: old, to: role });
    this.#o.onRoleChange?.(role, old);
  }

  /**
   * Reports members whose announced role disagrees with the rule. Called on every persistence
   * tick; a disagreement is reported only once it has held for two ticks in a row (a view that
   * is still converging disagrees briefly) and only once per member and role pair.
   */
  #checkAnnouncedRoles(): void {
    const roles = this.roles();
    const now = new Set<string>();
    for (const [name, role] of roles) {
      if (name === this.#o.name) continue;
      const info = this.#o.gossip.member(name);
      if (info?.state !== "alive" || role === "PENDING") continue;
      const announced = info.meta.role;
      if (!announced || announced === role || announced === "PENDING") continue;
      const key = `${name}\n${announced}\n${role}`;
      now.add(key);
      if (this.#roleSuspects.has(key) && !this.#roleReported.has(key)) {
        this.#roleReported.add(key);
        this.#o.logger.warn("A member announces a role the rule does not give it", {
          member: name,
          announced,
          expected: role,
        });
      }
    }
    this.#roleSuspects = now;
  }

  /**
   * The version of one member as the view knows it: from its gossiped metadata (its list once
   * fetched, or ours when the digests match), else as last stored; `undefined` when never known.
   */
  versionOf(name: string): MemberVersion | undefined {
    if (name === this.#o.name) return this.#o.local;
    const meta = this.#o.gossip.member(name)?.meta;
    if (meta) {
      const extensions = meta.extensions ??
        (this.#o.gossip.extensionStatus(name)?.verdict === "equal"
          ? this.#o.local.extensions
          : undefined);
      if (extensions) {
        return {
          schemaInternal: meta.schemaInternal,
          schemaExternal: meta.schemaExternal,
          extensions,
        };
      }
    }
    return this.#storedVersion.get(name);
  }

  /** Whether the member is up (alive or suspect), and since when it is down if not. */
  liveness(name: string): { up: boolean; downSince?: number } {
    if (name === this.#o.name) return { up: true };
    const info = this.#o.gossip.member(name);
    if (info && (info.state === "alive" || info.state === "suspect")) return { up: true };
    return { up: false, downSince: info?.stateChangedAt ?? this.#storedHeartbeat.get(name) ?? 0 };
  }

  /**
   * `GET /core/1.0/cluster` entries, answered from memory. While this member waits for others
   * to upgrade (`selfOnline` false), members with its versions are `UPGRADING`.
   */
  entries(selfOnline: boolean): ClusterMemberEntry[] {
    const roles = this.roles();
    const out: ClusterMemberEntry[] = [];
    // During an upgrade every member labels the others alike: the newest versions any member
    // runs are the target; members with it are UPGRADING and members without it NEEDS UPGRADE,
    // as seen from a waiting member and from one that has not upgraded yet. Only a member that
    // runs the target and serves shows the members with it ONLINE (they serve too).
    const versions = [...this.#roster.keys()].map((n) => this.versionOf(n));
    let target = this.#o.local;
    for (const v of versions) if (v && compareVersions(target, v).verdict === "behind") target = v;
    const upgrading = versions.some((v) => v && compareVersions(target, v).verdict !== "equal");
    const atTargetServing = selfOnline &&
      compareVersions(target, this.#o.local).verdict === "equal";
    const live = (version: MemberVersion | undefined) => {
      if (!upgrading || !version) return selfOnline ? "ONLINE" : "UPGRADING";
      if (compareVersions(target, version).verdict !== "equal") return "NEEDS UPGRADE";
      return atTargetServing ? "ONLINE" : "UPGRADING";
    };
    for (const [name, entry] of this.#roster) {
      const self = name === this.#o.name;
      const info = self ? undefined : this.#o.gossip.member(name);
      const meta = info?.meta;
      const version = this.versionOf(name);
      const comparison = version ? compareVersions(this.#o.local, version) : undefined;
      let status = "UNREACHABLE";
      if (self) status = live(version);
      else if (info?.state === "suspect") status = "SUSPECT";
      else if (info?.state === "alive") status = live(version);
      out.push({
        name,
        address: entry.address,
        certificate: entry.certificate,
        fingerprint: entry.fingerprint,
        role: roles.get(name) ?? "PENDING",
        schema_internal_version: version?.schemaInternal ?? meta?.schemaInternal ?? 0,
        schema_external_version: version?.schemaExternal ?? meta?.schemaExternal ?? 0,
        last_heartbeat: heartbeatTime(
          self ? Date.now() : info?.lastHeartbeat ?? this.#storedHeartbeat.get(name) ?? 0,
        ),
        status,
        extensions: [...(version?.extensions ?? [])],
        extension_verdict: comparison
          ? {
            verdict: comparison.extensions.verdict,
            missing: comparison.extensions.missing,
            extra: comparison.extensions.extra,
          }
          : { verdict: "unknown", missing: [], extra: [] },
        app_version: self ? this.#appVersion : meta?.appVersion ?? "",
      });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Writes changed records and the merged member view, if anything changed. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    try {
      if (this.#dirtyRecords.size) {
        const records = [...this.#dirtyRecords.values()];
        this.#dirtyRecords.clear();
        const now = Date.now();
        await saveRecords(this.#o.store, records, now);
        if (records.some((r) => r.kind === TOKEN_RECORD)) {
          // core_token_records mirrors the live token records, as MicroCluster's table reads.
          await replaceTokens(
            this.#o.store,
            tokensOf(this.#o.gossip)
              .filter(([, t]) => t.expiresAt === null || t.expiresAt > now)
              .map(([secretHash, t]) => ({ name: t.name, secretHash, expiresAt: t.expiresAt })),
          );
        }
      }
      if (!this.#dirtyView) return;
      this.#dirtyView = false;
      const removed = this.#removed.splice(0);
      for (const name of removed) await deleteMember(this.#o.store, name);
      const rows: NewMember[] = this.entries(true).map((e) => {
        const heartbeat = Date.parse(e.last_heartbeat);
        if (heartbeat > 0) this.#storedHeartbeat.set(e.name, heartbeat);
        const row: NewMember = {
          name: e.name,
          address: e.address,
          certificate: e.certificate,
          role: e.role as NewMember["role"],
          heartbeat: heartbeat > 0 ? heartbeat : 0,
          schemaInternal: e.schema_internal_version,
          schemaExternal: e.schema_external_version,
          appVersion: e.app_version,
        };
        if (e.extension_verdict.verdict !== "unknown") {
          row.extensions = e.extensions;
          this.#storedVersion.set(e.name, {
            schemaInternal: e.schema_internal_version,
            schemaExternal: e.schema_external_version,
            extensions: e.extensions,
          });
        }
        return row;
      });
      await upsertMembers(this.#o.store, rows);
    } catch (err) {
      // A failed batch is retried on the next tick; the view in memory stays authoritative.
      this.#dirtyView = true;
      this.#o.logger.warn("Could not persist the cluster view", { err });
    }
  }
}
