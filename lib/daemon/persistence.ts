/**
 * Writes the view to the member's store in batches, never on every frame: the replicated records
 * (roster, tokens, the app's records) into `core_records`, with the certificates their changes
 * ended into `core_former_certificates` (in the same transaction), the live tokens into
 * `core_token_records` (MicroCluster's table), and the member rows that changed into
 * `core_cluster_members`; a change of the roster is written at once. A batch is written
 * {@link PERSIST_INTERVAL_MS} after the first change it holds, so an idle member writes nothing
 * and wakes for nothing. A member row is written when a field other than its heartbeat changed,
 * or its heartbeat moved by {@link HEARTBEAT_PERSIST_MS} (every heartbeat is written when the
 * member stops): rewriting every row on every batch held the event loop (a store commit is
 * synchronous) for tens of ms per batch while a cluster of 50 formed. A failed batch is retried
 * by the next one; the view in memory stays authoritative.
 *
 * @module
 */
import { type FormerCertificate, formerCertificateOf } from "../cluster/former_certificates.ts";
import type { Clock, ReplicatedRecord } from "../cluster/membership.ts";
import { MEMBER_RECORD, TOKEN_RECORD, tokensOf } from "../cluster/roster.ts";
import type { Logger } from "../log.ts";
import { APP_RECORD } from "../records/limits.ts";
import { deleteMember, type NewMember, upsertMembers } from "../store/members.ts";
import type { Store } from "../store/open.ts";
import { saveRecords } from "../store/records.ts";
import { replaceTokens } from "../store/tokens.ts";
import type { ClusterMemberEntry } from "./service.ts";
import type { ClusterView, ViewChange } from "./view.ts";

/** How long after a change the batch holding it is written, in ms. */
export const PERSIST_INTERVAL_MS = 1000;

/**
 * How far a member's last heartbeat may move before its row is written for that alone, in ms.
 * The stored heartbeat only matters after a restart, for members gossip has not heard from yet
 * (their last-seen time and the start of their dead grace).
 */
export const HEARTBEAT_PERSIST_MS = 10_000;

/** The record kinds a member keeps in its store: the roster, join tokens, the app's records. */
export const PERSISTED_KINDS: ReadonlySet<string> = new Set([
  MEMBER_RECORD,
  TOKEN_RECORD,
  APP_RECORD,
]);

/** Options of {@link ViewPersistence}. */
export interface ViewPersistenceOptions {
  store: Store;
  view: ClusterView;
  clock: Clock;
  /** The member rows to write, as the API lists them. */
  entries(): ClusterMemberEntry[];
  logger: Logger;
}

/** Batched persistence of one view; see the module docs. */
export class ViewPersistence {
  readonly #o: ViewPersistenceOptions;
  readonly #dirtyRecords = new Map<string, ReplicatedRecord>();
  /** Certificates record changes ended, oldest first, not written yet. */
  #former: FormerCertificate[] = [];
  #dirtyView = true;
  #allHeartbeats = false;
  #removed: string[] = [];
  #flushing?: Promise<void>;
  /** What each member's stored row holds (as {@link rowKey} and heartbeat), as far as we wrote it. */
  readonly #written = new Map<string, { key: string; heartbeat: number }>();

  constructor(options: ViewPersistenceOptions) {
    this.#o = options;
  }

  /** Takes a view change in: what it changed is written by the next flush. */
  onChange(change: ViewChange): void {
    this.#dirtyView = true;
    if (change.kind !== "record" || !PERSISTED_KINDS.has(change.record.kind)) return;
    this.#dirtyRecords.set(`${change.record.kind}\n${change.record.key}`, change.record);
    // The trust notes the same (`formerCertificateOf`) in its memory, which a restart reads
    // back from here.
    const former = formerCertificateOf(change.previous, change.record);
    if (former) this.#former.push(former);
    if (change.removed) this.#removed.push(change.removed.name);
    // Who is a member is written at once, not with the next batch: a member killed within the
    // second after it learnt of a new member would restart without it, and a member it does not
    // know is one whose gossip it refuses (rare, so cheap).
    if (change.record.kind === MEMBER_RECORD) void this.flush();
  }

  /**
   * Marks the member rows changed (e.g. this member's own versions or app version); with
   * `heartbeats`, the next flush also writes every heartbeat that moved at all (at stop).
   */
  touch(options: { heartbeats?: boolean } = {}): void {
    this.#dirtyView = true;
    if (options.heartbeats) this.#allHeartbeats = true;
  }

  /** Whether a change waits to be written (or a failed batch to be retried). */
  get dirty(): boolean {
    return this.#dirtyView || this.#dirtyRecords.size > 0;
  }

  /**
   * Writes what changed; resolves once written. A flush already under way is followed by
   * another, so what changed before the call is always written when it resolves.
   */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    this.#flushing = this.#flush().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const { store, view } = this.#o;
    let allHeartbeats = false;
    try {
      if (this.#dirtyRecords.size) {
        const records = [...this.#dirtyRecords.values()];
        const former = this.#former;
        this.#dirtyRecords.clear();
        this.#former = [];
        const now = this.#o.clock.now();
        try {
          await saveRecords(store, records, now, former);
        } catch (err) {
          for (const r of records) {
            const key = `${r.kind}\n${r.key}`;
            // A change taken in meanwhile is newer.
            if (!this.#dirtyRecords.has(key)) this.#dirtyRecords.set(key, r);
          }
          this.#former = [...former, ...this.#former];
          throw err;
        }
        if (records.some((r) => r.kind === TOKEN_RECORD)) {
          await replaceTokens(
            store,
            tokensOf(view.gossip)
              .filter(([, t]) => t.expiresAt === null || t.expiresAt > now)
              .map(([secretHash, t]) => ({ name: t.name, secretHash, expiresAt: t.expiresAt })),
          );
        }
      }
      if (!this.#dirtyView) return;
      this.#dirtyView = false;
      allHeartbeats = this.#allHeartbeats;
      this.#allHeartbeats = false;
      // A name leaves the list once its row is deleted: a failed delete is tried again.
      while (this.#removed.length) {
        const name = this.#removed[0];
        await deleteMember(store, name);
        this.#written.delete(name);
        this.#removed.shift();
      }
      const rows: NewMember[] = [];
      const written: [string, { key: string; heartbeat: number }][] = [];
      for (const e of this.#o.entries()) {
        const parsed = Date.parse(e.last_heartbeat);
        const heartbeat = parsed > 0 ? parsed : 0;
        const known = e.extension_verdict.verdict !== "unknown";
        const version = known
          ? {
            schemaInternal: e.schema_internal_version,
            schemaExternal: e.schema_external_version,
            extensions: e.extensions,
          }
          : undefined;
        view.remember(e.name, heartbeat, version);
        const row: NewMember = {
          name: e.name,
          address: e.address,
          certificate: e.certificate,
          role: e.role as NewMember["role"],
          heartbeat,
          schemaInternal: e.schema_internal_version,
          schemaExternal: e.schema_external_version,
          appVersion: e.app_version,
          ...(known ? { extensions: e.extensions } : {}),
        };
        const key = rowKey(row);
        const before = this.#written.get(e.name);
        const moved = before ? heartbeat - before.heartbeat : Infinity;
        if (
          before?.key === key &&
          !(moved >= HEARTBEAT_PERSIST_MS || (allHeartbeats && moved > 0) ||
            (before.heartbeat === 0 && heartbeat > 0))
        ) continue;
        rows.push(row);
        written.push([e.name, { key, heartbeat }]);
      }
      if (rows.length === 0) return;
      await upsertMembers(store, rows);
      for (const [name, w] of written) this.#written.set(name, w);
    } catch (err) {
      this.#dirtyView = true;
      this.#allHeartbeats ||= allHeartbeats;
      this.#o.logger.warn("Could not persist the cluster view", { err });
    }
  }
}

/** A member row without its heartbeat, as one comparable string. */
function rowKey(row: NewMember): string {
  return JSON.stringify([
    row.address,
    row.certificate,
    row.role,
    row.schemaInternal,
    row.schemaExternal,
    row.appVersion,
    row.extensions ?? null,
  ]);
}
