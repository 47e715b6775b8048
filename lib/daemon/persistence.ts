/**
 * Writes the view to the member's store in batches, never on every frame: the replicated records
 * (roster, tokens, the app's records) into `core_records`, with the certificates their changes
 * ended into `core_former_certificates` (in the same transaction), the live tokens into
 * `core_token_records` (MicroCluster's table), and the member rows that changed into
 * `core_cluster_members`; a change of the roster is written at once. A batch is written
 * {@link PERSIST_INTERVAL_MS} after the first change it holds, so an idle member writes nothing
 * and wakes for nothing. A member row is written only when it changed (`member_rows.ts`; every
 * heartbeat is written when the member stops). A failed batch is retried by the next one; the
 * view in memory stays authoritative; a run of failed batches is logged as
 * `persist_failures.ts` says.
 *
 * A batch writes at most {@link ROWS_PER_TURN} rows per turn of the event loop, each part in a
 * transaction of its own, and yields between parts: a joiner's first batch is the whole view it
 * was handed (every record and member row, 300 rows at N = 100), and written at once it held the
 * joiner's event loop for seconds on a loaded machine (Drizzle building the statement, SQLite,
 * the garbage it left), past the 500 ms probe timeout, while the members it had just been
 * announced to probed it. Records are independent registers, so a crash between two parts leaves
 * an earlier state that gossip brings up to date; a certificate a record change ended is written
 * in the same part as that record (see {@link recordParts}).
 *
 * @module
 */
import { type FormerCertificate, formerCertificateOf } from "../cluster/former_certificates.ts";
import { type Clock, wallNow } from "../cluster/clock.ts";
import { type ReplicatedRecord } from "../cluster/replicated_record.ts";
import { MEMBER_RECORD, TOKEN_RECORD, tokensOf } from "../cluster/roster.ts";
import type { Logger } from "../log.ts";
import { APP_RECORD } from "../records/limits.ts";
import { deleteMember, type Member, type NewMember, upsertMembers } from "../store/members.ts";
import type { Store } from "../store/open.ts";
import { saveRecords } from "../store/records.ts";
import { replaceTokens } from "../store/tokens.ts";
import type { ClusterMemberEntry } from "./service.ts";
import { memberRow, needsWrite, rowKey, type WrittenRow } from "./member_rows.ts";
import { PersistFailures } from "./persist_failures.ts";
import { syncStore } from "./sync_store.ts";
import type { ClusterView, ViewChange } from "./view.ts";

/** How long after a change the batch holding it is written, in ms. */
export const PERSIST_INTERVAL_MS = 1000;

/**
 * Most rows a batch writes in one turn of the event loop (one transaction). A row costs about
 * 50 µs of CPU (Drizzle and SQLite) on an idle machine: a part stays a few ms, and on a machine
 * loaded 25 times over its cores still far below the probe timeout.
 */
export const ROWS_PER_TURN = 32;

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
  /** Durations on `now()`; records' and tokens' expiry are dates (`wallNow`). */
  clock: Clock;
  /** The member rows to write, as the API lists them. */
  entries(): ClusterMemberEntry[];
  /**
   * The member rows the store held when the view started (a restart): a row the first batch
   * would write exactly as it is there (its heartbeat moved less than
   * `HEARTBEAT_PERSIST_MS`) is not rewritten. @default none: every row is written once
   */
  stored?: readonly Member[];
  logger: Logger;
  /**
   * Makes what the store committed durable, off the event loop: called before an
   * {@link ViewPersistence.afterWritten} callback runs, as those remove what a restart would
   * otherwise read (the view a join kept). A store commits with `synchronous = NORMAL`, whose
   * commits an operating-system crash, or a file system that turns read-only after an I/O error,
   * may take back: a joiner whose file system broke just after its kept view was removed came
   * back with a store that lacked the cluster's members, refused their gossip (403) and never
   * caught up. @default fsyncs the store's database file and its WAL (a `file:` URL; nothing
   * for another)
   */
  durable?: () => Promise<void>;
  /**
   * Resolves once the event loop took a turn (read what waits on its sockets): called between
   * two parts of a batch. @default a zero-delay timer on `clock`, so a simulated member yields
   * in simulated time
   */
  turn?: () => Promise<void>;
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
  /** What each member's stored row holds, as far as we wrote it. */
  readonly #written = new Map<string, WrittenRow>();
  /** Rows written in this turn of the event loop so far. */
  #rowsThisTurn = 0;
  /** Settles at the next turn, with {@link #rowsThisTurn} back to 0 (set while it is above 0). */
  #nextTurn: Promise<void> = Promise.resolve();
  readonly #turn: () => Promise<void>;
  readonly #durable: () => Promise<void>;
  /** Batches started so far (the number of the one under way). */
  #batches = 0;
  /** Called once a batch started after their registration (number above `after`) wrote whole. */
  #onWritten: { after: number; then: () => void }[] = [];
  /** Whether the table of live tokens waits to be replaced (its records changed). */
  #tokensStale = false;
  readonly #failures: PersistFailures;

  constructor(options: ViewPersistenceOptions) {
    this.#o = options;
    // A restart's first batch rewrote every member row as it was, its own new versions among
    // them, before its start could announce those (issue 15's wake-up).
    for (const m of options.stored ?? []) {
      this.#written.set(m.name, { key: rowKey(m), heartbeat: m.heartbeat });
    }
    this.#failures = new PersistFailures(options.clock, options.logger);
    this.#durable = options.durable ?? (() => syncStore(options.store.location.url));
    this.#turn = options.turn ??
      (() => new Promise<void>((resolve) => options.clock.setTimeout(resolve, 0)));
  }

  /**
   * Makes room for `rows` rows in this turn: waits for the next turn when they would exceed the
   * budget. The budget is the turn's, not the batch's: batches started one after the other
   * without a real wait between them (a joiner's first batch and the one its join writes next)
   * share one turn.
   */
  async #room(rows: number): Promise<void> {
    if (this.#rowsThisTurn > 0 && this.#rowsThisTurn + rows > ROWS_PER_TURN) await this.#nextTurn;
    if (this.#rowsThisTurn === 0) {
      this.#nextTurn = this.#turn().then(() => void (this.#rowsThisTurn = 0));
    }
    this.#rowsThisTurn += rows;
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

  /**
   * Whether the last batch failed (a run of failed batches is under way): the store is known not
   * to take writes until a batch writes whole again.
   */
  get failing(): boolean {
    return this.#failures.failing;
  }

  /** Whether a change waits to be written (or a failed batch to be retried). */
  get dirty(): boolean {
    return this.#dirtyView || this.#dirtyRecords.size > 0 || this.#tokensStale;
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

  /**
   * Calls `then` once everything changed before this call is in the store, durably: after the
   * first batch started from now on that writes whole and is then synced (a failed one leaves
   * its rows, and its callbacks, to the next, which the member's tick runs while something is
   * left). Starts that batch.
   */
  afterWritten(then: () => void): void {
    this.#onWritten.push({ after: this.#batches, then });
    void this.flush();
  }

  /**
   * Makes what the store committed durable (see {@link ViewPersistenceOptions.durable}): for a
   * caller that writes, after a {@link flush}, a file saying the store holds its state.
   */
  sync(): Promise<void> {
    return this.#durable();
  }

  /**
   * Writes what changed, as {@link flush} does, but rejects with the error of a batch that
   * failed (as the store gave it; what it did not write stays to be written by the next one):
   * for an answer that says a change is in the store ({@link flush} resolves either way, and a
   * record put or an app version set on a read-only disk was answered as stored).
   */
  async written(): Promise<void> {
    await this.flush();
    this.#failures.throwIfFailing();
  }

  /**
   * {@link written}, then makes the store durable (see {@link sync}): for an answer that says a
   * change is on the disk (a removal). Rejects with what failed, the batch or the sync.
   */
  async flushDurably(): Promise<void> {
    await this.written();
    await this.#durable();
  }

  async #flush(): Promise<void> {
    const batch = ++this.#batches;
    if (!(await this.#write())) return;
    if (!this.#onWritten.some((w) => w.after < batch)) return;
    try {
      await this.#durable();
    } catch (err) {
      this.#dirtyView = true; // the next batch syncs again
      this.#failures.failed(err);
      return;
    }
    const done = this.#onWritten.filter((w) => w.after < batch);
    this.#onWritten = this.#onWritten.filter((w) => w.after >= batch);
    for (const w of done) w.then();
  }

  /** One batch; resolves to whether it wrote everything it took (a failure is logged). */
  async #write(): Promise<boolean> {
    const { store, view } = this.#o;
    let allHeartbeats = false;
    try {
      if (this.#dirtyRecords.size) {
        const records = [...this.#dirtyRecords.values()];
        const former = this.#former;
        this.#dirtyRecords.clear();
        this.#former = [];
        const now = wallNow(this.#o.clock); // records expire at dates
        const parts = recordParts(records, former);
        for (let i = 0; i < parts.length; i++) {
          try {
            await this.#room(parts[i].length + (i === 0 ? former.length : 0));
            await saveRecords(store, parts[i], now, i === 0 ? former : []);
          } catch (err) {
            for (const r of parts.slice(i).flat()) {
              const key = `${r.kind}\n${r.key}`;
              // A change taken in meanwhile is newer.
              if (!this.#dirtyRecords.has(key)) this.#dirtyRecords.set(key, r);
            }
            if (i === 0) this.#former = [...former, ...this.#former];
            throw err;
          }
        }
        if (records.some((r) => r.kind === TOKEN_RECORD)) this.#tokensStale = true;
      }
      // Apart from the records: when only the replacement failed, the retry has no token record
      // left to write, and the table must still be replaced.
      if (this.#tokensStale) {
        const now = wallNow(this.#o.clock); // tokens expire at dates
        const live = tokensOf(view.gossip)
          .filter(([, t]) => t.expiresAt === null || t.expiresAt > now)
          .map(([secretHash, t]) => ({ name: t.name, secretHash, expiresAt: t.expiresAt }));
        // One transaction (the table is replaced whole); live tokens are few.
        await this.#room(live.length + 1);
        await replaceTokens(store, live);
        this.#tokensStale = false;
      }
      if (!this.#dirtyView) return this.#wrote();
      this.#dirtyView = false;
      allHeartbeats = this.#allHeartbeats;
      this.#allHeartbeats = false;
      // A name leaves the list once its row is deleted: a failed delete is tried again.
      while (this.#removed.length) {
        const name = this.#removed[0];
        await this.#room(1);
        await deleteMember(store, name);
        this.#written.delete(name);
        this.#removed.shift();
      }
      const rows: NewMember[] = [];
      const written: [string, WrittenRow][] = [];
      for (const e of this.#o.entries()) {
        const { row, heartbeat, version } = memberRow(e);
        view.remember(e.name, heartbeat, version);
        const key = rowKey(row);
        if (!needsWrite(this.#written.get(e.name), key, heartbeat, allHeartbeats)) continue;
        rows.push(row);
        written.push([e.name, { key, heartbeat }]);
      }
      for (let i = 0; i < rows.length; i += ROWS_PER_TURN) {
        const part = rows.slice(i, i + ROWS_PER_TURN);
        await this.#room(part.length);
        await upsertMembers(store, part);
        for (const [name, w] of written.slice(i, i + part.length)) this.#written.set(name, w);
      }
      return this.#wrote();
    } catch (err) {
      this.#dirtyView = true;
      this.#allHeartbeats ||= allHeartbeats;
      this.#failures.failed(err);
      return false;
    }
  }

  /** Ends a run of failed batches (a batch wrote whole); `true`. */
  #wrote(): true {
    this.#failures.wrote();
    return true;
  }
}

/**
 * Splits a batch's records into parts of at most {@link ROWS_PER_TURN} rows, in order, except
 * that the records whose changes ended a certificate in `former` all come in the first part:
 * `former` is written with it, in the same transaction, so a restart never finds a removal
 * without the certificate it ended (that part may exceed the bound: such changes are rare).
 */
export function recordParts(
  records: readonly ReplicatedRecord[],
  former: readonly FormerCertificate[],
): ReplicatedRecord[][] {
  const ended = new Set(former.map((f) => f.name));
  const first = records.filter((r) => r.kind === MEMBER_RECORD && ended.has(r.key));
  const rest = records.filter((r) => !(r.kind === MEMBER_RECORD && ended.has(r.key)));
  const parts: ReplicatedRecord[][] = [];
  let i = Math.max(0, ROWS_PER_TURN - first.length - former.length);
  parts.push([...first, ...rest.slice(0, i)]);
  for (; i < rest.length; i += ROWS_PER_TURN) parts.push(rest.slice(i, i + ROWS_PER_TURN));
  return parts;
}
