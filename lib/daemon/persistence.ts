/**
 * Writes the view to the member's store in batches, never on every frame: the replicated records
 * (roster, tokens, the app's records) into `core_records`, the live tokens into
 * `core_token_records` (MicroCluster's table), and the merged member rows into
 * `core_cluster_members`; a change of the roster is written at once. A failed batch is retried
 * by the next tick; the view in memory stays authoritative.
 *
 * @module
 */
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

/** How often the view is written to the store, in ms. */
export const PERSIST_INTERVAL_MS = 1000;

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
  #dirtyView = true;
  #removed: string[] = [];
  #flushing?: Promise<void>;

  constructor(options: ViewPersistenceOptions) {
    this.#o = options;
  }

  /** Takes a view change in: what it changed is written by the next flush. */
  onChange(change: ViewChange): void {
    this.#dirtyView = true;
    if (change.kind !== "record" || !PERSISTED_KINDS.has(change.record.kind)) return;
    this.#dirtyRecords.set(`${change.record.kind}\n${change.record.key}`, change.record);
    if (change.removed) this.#removed.push(change.removed.name);
    // Who is a member is written at once, not with the next batch: a member killed within the
    // second after it learnt of a new member would restart without it, and a member it does not
    // know is one whose gossip it refuses (rare, so cheap).
    if (change.record.kind === MEMBER_RECORD) void this.flush();
  }

  /** Marks the member rows changed (e.g. this member's own versions or app version). */
  touch(): void {
    this.#dirtyView = true;
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
    try {
      if (this.#dirtyRecords.size) {
        const records = [...this.#dirtyRecords.values()];
        this.#dirtyRecords.clear();
        const now = this.#o.clock.now();
        try {
          await saveRecords(store, records, now);
        } catch (err) {
          for (const r of records) this.#dirtyRecords.set(`${r.kind}\n${r.key}`, r);
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
      // A name leaves the list once its row is deleted: a failed delete is tried again.
      while (this.#removed.length) {
        await deleteMember(store, this.#removed[0]);
        this.#removed.shift();
      }
      const rows: NewMember[] = this.#o.entries().map((e) => {
        const heartbeat = Date.parse(e.last_heartbeat);
        const known = e.extension_verdict.verdict !== "unknown";
        const version = known
          ? {
            schemaInternal: e.schema_internal_version,
            schemaExternal: e.schema_external_version,
            extensions: e.extensions,
          }
          : undefined;
        view.remember(e.name, heartbeat > 0 ? heartbeat : 0, version);
        return {
          name: e.name,
          address: e.address,
          certificate: e.certificate,
          role: e.role as NewMember["role"],
          heartbeat: heartbeat > 0 ? heartbeat : 0,
          schemaInternal: e.schema_internal_version,
          schemaExternal: e.schema_external_version,
          appVersion: e.app_version,
          ...(known ? { extensions: e.extensions } : {}),
        };
      });
      await upsertMembers(store, rows);
    } catch (err) {
      this.#dirtyView = true;
      this.#o.logger.warn("Could not persist the cluster view", { err });
    }
  }
}
