/**
 * The member's own writes to a `file:` database, run on libSQL's threads instead of the event
 * loop. `@libsql/client` runs SQLite on the calling thread: a commit that waits for the disk (a
 * page write throttled by the kernel's dirty-page limits, a WAL checkpoint's fsync, which a
 * commit past 1000 pages of log runs) held the member's event loop, and with it its answers to
 * probes and HTTP, for as long as the disk took: 10.4 s for an established member under I/O
 * pressure, 6.0 s for a joiner's first write of its view (issue 15). libSQL's promise API runs
 * a statement with its parameters, and `BEGIN`/`COMMIT`, on a thread of its own: the event loop
 * only hands the statement over and takes the answer back.
 *
 * A writer is a second connection to the database, used by one transaction at a time (writes
 * are queued). It keeps its prepared statements for as long as the connection lives: a
 * statement dropped by the garbage collector is finalized on the event loop, which waits for the
 * connection while it works, so a commit's checkpoint under I/O pressure held the loop for
 * 2-4 s through a statement of an earlier write (measured: `scripts/bench/persist_turns.ts`).
 * Past {@link MAX_STATEMENTS} texts the connection is replaced between two writes, while idle. It waits for a lock another connection holds (the member's own, the SQL
 * console's) off the loop, up to its busy timeout. Durability is the main connection's: WAL with
 * `synchronous = NORMAL` (a commit survives the process being killed; an operating-system crash
 * may roll the last commits back to a consistent earlier state). It runs WAL checkpoints (its
 * commits' automatic ones), so their fsyncs happen on its thread too.
 *
 * @module
 */
import Database from "libsql/promise";
import type { Clock, TimerHandle } from "../cluster/clock.ts";
import type { WriteLock } from "./write_lock.ts";

/** One statement and its bound parameters, as Drizzle's `toSQL()` gives them. */
export interface SqlStatement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/** A prepared statement of libSQL's promise API (the parts used here). */
interface AsyncStatement {
  all(params: unknown[]): Promise<unknown[]>;
}

/** A connection of libSQL's promise API (the parts used here). */
interface AsyncDatabase {
  prepare(sql: string): Promise<AsyncStatement>;
  exec(sql: string): Promise<unknown>;
  close(): void;
}

/**
 * Most prepared statements a writer's connection keeps. cohort's writes have a few dozen texts
 * (a multi-row insert's text depends on its number of rows, at most `ROWS_PER_TURN` per part).
 */
export const MAX_STATEMENTS = 256;

/**
 * How long after an operation of the store's main connection the writer checkpoints the WAL,
 * in ms (at most once per delay). The main connection never checkpoints (its commits would run
 * the checkpoint's fsync on the event loop), so without this an app writing through the client
 * while the member wrote nothing grew the log without bound.
 */
export const CHECKPOINT_DELAY_MS = 1000;

/** The error a write queued after {@link ThreadWriter.close} fails with. */
export class WriterClosedError extends Error {
  constructor() {
    super("The store is closed");
    this.name = "WriterClosedError";
  }
}

/** Options of {@link ThreadWriter.open}. */
export interface ThreadWriterOptions {
  /** The database file (as SQLite resolved it for the main connection). */
  path: string;
  /** How long a write waits for a lock another connection holds, in ms (off the loop). */
  busyTimeoutMs: number;
  /** The lock shared with the store's main connection (`write_lock.ts`). */
  lock: WriteLock;
  /**
   * The timers of the delayed checkpoint ({@link ThreadWriter.checkpointSoon}): the member's
   * clock, on which every timer of a member runs (a simulated member's included).
   * @default the runtime's `setTimeout`
   */
  timers?: Pick<Clock, "setTimeout" | "clearTimeout">;
}

/** The runtime's timers (a pending checkpoint keeps the process up until it ran). */
const RUNTIME_TIMERS: Pick<Clock, "setTimeout" | "clearTimeout"> = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Writes run off the event loop, one transaction at a time; see the module docs. */
export class ThreadWriter {
  #db: AsyncDatabase;
  readonly #options: ThreadWriterOptions;
  /** The connection's prepared statements, by text (see the module docs). */
  #statements = new Map<string, AsyncStatement>();
  /** Settles when the last queued write did (never rejects). */
  #tail: Promise<void> = Promise.resolve();
  /** Settles once the connection's settings are applied (never rejects). */
  #ready: Promise<void> = Promise.resolve();
  #closed = false;
  #queued = 0;
  /** The pending checkpoint's timer (see {@link ThreadWriter.checkpointSoon}). */
  #checkpoint: TimerHandle | undefined;

  private constructor(options: ThreadWriterOptions) {
    this.#options = options;
    this.#db = this.#connect();
  }

  /** Opens a second connection to `options.path` (synchronously, as the main one opens). */
  static open(options: ThreadWriterOptions): ThreadWriter {
    return new ThreadWriter(options);
  }

  /** A new connection, its settings queued before any write. */
  #connect(): AsyncDatabase {
    const { path, busyTimeoutMs } = this.#options;
    const db = new Database(path, { timeout: busyTimeoutMs }) as AsyncDatabase;
    const ms = Math.max(0, Math.floor(busyTimeoutMs));
    // Per connection: the main connection's settings do not carry over.
    this.#ready = db.exec(`PRAGMA busy_timeout = ${ms}; PRAGMA synchronous = NORMAL`).then(
      () => {},
      () => {}, // a write then fails with SQLite's own error
    );
    return db;
  }

  /** The database file it writes (as SQLite resolved it for the main connection). */
  get file(): string {
    return this.#options.path;
  }

  /** Texts whose statements the connection keeps (for tests). */
  get statements(): number {
    return this.#statements.size;
  }

  /** Writes queued or under way. */
  get pending(): number {
    return this.#queued;
  }

  /**
   * Runs `statements` in order in one transaction (`BEGIN IMMEDIATE` … `COMMIT`), after the
   * writes queued before; all or nothing. Rejects with SQLite's error (`code`, `rawCode`, its
   * message, never the parameters) after rolling back, or {@link WriterClosedError}.
   */
  write(statements: readonly SqlStatement[]): Promise<void> {
    if (this.#closed) return Promise.reject(new WriterClosedError());
    this.#queued++;
    const { lock, busyTimeoutMs } = this.#options;
    const run = this.#tail.then(async () => {
      try {
        await lock.run(busyTimeoutMs, () => this.#transaction(statements));
      } finally {
        if (this.#statements.size > MAX_STATEMENTS && !this.#closed) this.#replace();
      }
    });
    this.#tail = run.then(() => {}, () => {}).finally(() => void this.#queued--);
    return run;
  }

  /**
   * Checkpoints the WAL (`PASSIVE`: it copies what no reader still needs and waits for nobody)
   * {@link CHECKPOINT_DELAY_MS} from now, on the writer's thread, after the writes queued by
   * then; a call while one is pending does nothing. The store calls it after each operation of
   * its main connection, whose commits do not checkpoint.
   */
  checkpointSoon(): void {
    if (this.#closed || this.#checkpoint !== undefined) return;
    this.#checkpoint = (this.#options.timers ?? RUNTIME_TIMERS).setTimeout(() => {
      this.#checkpoint = undefined;
      // A checkpoint that failed (busy past the timeout, a closed file) is tried after the next
      // operation: nothing waits for it.
      this.checkpoint().catch(() => {});
    }, CHECKPOINT_DELAY_MS);
  }

  /**
   * Checkpoints the WAL (`PASSIVE`) on the writer's thread now, after the writes queued before
   * (what {@link checkpointSoon}'s timer runs). Resolves once done (at once when closed); rejects
   * with SQLite's error. {@link idle} waits for it like for a write.
   */
  checkpoint(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#queued++;
    const { lock, busyTimeoutMs } = this.#options;
    const run = this.#tail.then(() =>
      lock.run(busyTimeoutMs, async () => {
        if (this.#closed) return;
        await this.#ready;
        await this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
      })
    );
    this.#tail = run.then(() => {}, () => {}).finally(() => void this.#queued--);
    return run;
  }

  async #transaction(statements: readonly SqlStatement[]): Promise<void> {
    if (this.#closed) throw new WriterClosedError();
    await this.#ready;
    const db = this.#db;
    await db.exec("BEGIN IMMEDIATE");
    try {
      for (const s of statements) {
        let prepared = this.#statements.get(s.sql);
        if (!prepared) {
          prepared = await db.prepare(s.sql);
          this.#statements.set(s.sql, prepared);
        }
        await prepared.all(s.params.map(toSqlValue));
      }
      await db.exec("COMMIT");
    } catch (err) {
      await db.exec("ROLLBACK").catch(() => {}); // none open when BEGIN or COMMIT failed
      throw err;
    }
  }

  /**
   * Replaces the connection while it is idle (between two writes): its statements are then
   * finalized whenever the collector drops them, with nothing waiting for that connection.
   */
  #replace(): void {
    const old = this.#db;
    this.#statements = new Map();
    old.close();
    this.#db = this.#connect();
  }

  /**
   * Refuses new writes; the connection closes once the write under way (and those queued before)
   * ended. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#checkpoint !== undefined) {
      (this.#options.timers ?? RUNTIME_TIMERS).clearTimeout(this.#checkpoint);
    }
    this.#checkpoint = undefined;
    void this.#tail.then(() => this.#db.close()).catch(() => {}); // closed already
  }

  /** Resolves once every write queued before the call ended (for tests and orderly stops). */
  async idle(): Promise<void> {
    await this.#tail;
  }
}

/** A parameter as `@libsql/client` binds it (booleans as 0/1, dates as ms, bytes as a Buffer). */
function toSqlValue(value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new RangeError("Only finite numbers can be passed as arguments");
  }
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.valueOf();
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (value === undefined) throw new TypeError("undefined cannot be passed to the database");
  return value;
}

/** The writer of each store's Drizzle database (see `writeAtomically`). */
const writers = new WeakMap<object, ThreadWriter>();

/** Makes `writer` run the all-or-nothing writes on `db` (the store's Drizzle database). */
export function attachWriter(db: object, writer: ThreadWriter): void {
  writers.set(db, writer);
}

/** The writer attached to `db`, if any (none for a transaction, a memory or remote database). */
export function writerOf(db: object): ThreadWriter | undefined {
  return writers.get(db);
}
