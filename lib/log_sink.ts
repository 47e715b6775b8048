/**
 * Where log lines go: stderr, written so that its reader can never hold or end the process.
 *
 * A reader that stops reading (a paused pager, a log collector that stalls) fills the pipe:
 * Deno's `process.stderr.write` then blocks the whole event loop (the member answers nobody and
 * its peers declare it dead), and Node queues every later line in memory without bound. A reader
 * that goes away (`cohort daemon 2>&1 | head`, a collector restarted) makes the next write fail
 * with EPIPE, which ended the process. Here a line waits in a queue of at most
 * {@link LOG_BACKLOG_BYTES} while the writes before it are under way; beyond that it is dropped
 * and counted, and one line says how many once the reader has caught up. A failed write closes
 * the sink for good: a broken pipe does not mend.
 *
 * @module
 */
import process from "node:process";
import { deadlineIn } from "./net/late_deadline.ts";
import { isDeno } from "./runtime.ts";

/** The most bytes (UTF-16 code units, as a bound) of log lines waiting for their reader. */
export const LOG_BACKLOG_BYTES = 1 << 20;

/**
 * Writes `chunk`, resolving with how many bytes the system took (a short write is written on
 * from there), rejecting when it cannot write at all.
 */
export type ByteWriter = (chunk: Uint8Array) => Promise<number>;

/** Where log lines go, bounded: a reader that stalls or leaves costs lines, never the process. */
export interface LogSink {
  /** Queues `line` (which ends in a newline); never throws, never waits. */
  write(line: string): void;
  /**
   * Resolves once every queued line is written, or after `timeoutMs` (a reader that never reads
   * must not hold an exit for ever). @default 1000
   */
  flush(timeoutMs?: number): Promise<void>;
  /** Lines dropped since the last note of them (the queue full). */
  readonly dropped: number;
  /** Whether a write failed, so nothing is written any more. */
  readonly closed: boolean;
}

/** Options of {@link queuedSink} and {@link streamSink}. */
export interface QueuedSinkOptions {
  /** The queue's bound. @default LOG_BACKLOG_BYTES */
  maxBacklogBytes?: number;
  /** Clock of the note of dropped lines, in ms since the epoch. @default Date.now */
  now?: () => number;
}

const encoder = new TextEncoder();

class QueuedSink implements LogSink {
  readonly #writer: ByteWriter;
  readonly #max: number;
  readonly #now: () => number;
  #queue: string[] = [];
  #bytes = 0;
  #busy = false;
  #closed = false;
  #dropped = 0;
  #idle: (() => void)[] = [];

  constructor(writer: ByteWriter, options: QueuedSinkOptions) {
    this.#writer = writer;
    this.#max = options.maxBacklogBytes ?? LOG_BACKLOG_BYTES;
    this.#now = options.now ?? Date.now;
  }

  get dropped(): number {
    return this.#dropped;
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(line: string): void {
    if (this.#closed) return;
    if (this.#bytes + line.length > this.#max) {
      this.#dropped++;
      return;
    }
    this.#queue.push(line);
    this.#bytes += line.length;
    if (!this.#busy) void this.#pump();
  }

  flush(timeoutMs = 1000): Promise<void> {
    if (!this.#busy) return Promise.resolve();
    return new Promise((done) => {
      // Late-aware (as below): a writer that took the lines meanwhile is heard from first.
      const timer = deadlineIn(timeoutMs, done, { ref: true });
      this.#idle.push(() => {
        timer.clear();
        done();
      });
    });
  }

  async #pump(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        // Everything queued goes out in one write: one system call per burst, not per line.
        const text = this.#queue.join("");
        this.#queue = [];
        let chunk = encoder.encode(text);
        while (chunk.length > 0) chunk = chunk.subarray(await this.#writer(chunk));
        this.#bytes -= text.length;
        if (this.#queue.length === 0 && this.#dropped > 0) this.#noteDropped();
      }
    } catch {
      this.#closed = true;
      this.#queue = [];
      this.#bytes = 0;
    } finally {
      this.#busy = false;
      for (const done of this.#idle.splice(0)) done();
    }
  }

  #noteDropped(): void {
    const line = droppedNote(this.#dropped, this.#now());
    this.#dropped = 0;
    this.#queue.push(line);
    this.#bytes += line.length;
  }
}

/**
 * A {@link LogSink} writing through `writer` one batch at a time, the lines logged meanwhile
 * queued up to the bound.
 */
export function queuedSink(writer: ByteWriter, options: QueuedSinkOptions = {}): LogSink {
  return new QueuedSink(writer, options);
}

/** The part of a Node writable stream {@link streamSink} uses (`process.stderr`). */
export interface LogStream {
  readonly writableLength: number;
  write(chunk: string): boolean;
  on(event: "error" | "drain", listener: () => void): unknown;
  once(event: "drain", listener: () => void): unknown;
  off(event: "drain", listener: () => void): unknown;
}

class StreamSink implements LogSink {
  readonly #stream: LogStream;
  readonly #max: number;
  readonly #now: () => number;
  #closed = false;
  #dropped = 0;

  constructor(stream: LogStream, options: QueuedSinkOptions) {
    this.#stream = stream;
    this.#max = options.maxBacklogBytes ?? LOG_BACKLOG_BYTES;
    this.#now = options.now ?? Date.now;
    stream.on("error", () => this.#closed = true);
    stream.on("drain", () => {
      if (this.#dropped === 0 || this.#closed) return;
      const count = this.#dropped;
      this.#dropped = 0;
      this.#send(droppedNote(count, this.#now()));
    });
  }

  get dropped(): number {
    return this.#dropped;
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(line: string): void {
    if (this.#closed) return;
    if (this.#stream.writableLength + line.length > this.#max) {
      this.#dropped++;
      return;
    }
    this.#send(line);
  }

  #send(line: string): void {
    try {
      // Handed over at once (a crash test times a kill on the very line); the stream queues what
      // the pipe does not take yet.
      this.#stream.write(line);
    } catch {
      this.#closed = true;
    }
  }

  flush(timeoutMs = 1000): Promise<void> {
    if (this.#closed || this.#stream.writableLength === 0) return Promise.resolve();
    return new Promise((done) => {
      const finish = () => {
        timer.clear();
        this.#stream.off("drain", finish);
        done();
      };
      // Late-aware: after a held loop, a reader that emptied the pipe meanwhile takes the rest
      // before the flush gives up (the exit that follows would drop it).
      const timer = deadlineIn(timeoutMs, finish, { ref: true });
      this.#stream.once("drain", finish);
    });
  }
}

/**
 * A {@link LogSink} over a Node writable stream, which never blocks but keeps what the pipe does
 * not take: lines go to it at once while its backlog (`writableLength`) stays under the bound;
 * its `'error'` (EPIPE) closes the sink instead of ending the process.
 */
export function streamSink(stream: LogStream, options: QueuedSinkOptions = {}): LogSink {
  return new StreamSink(stream, options);
}

function droppedNote(count: number, time: number): string {
  return JSON.stringify({
    level: 40,
    time,
    component: "log",
    msg: "Dropped log lines: their reader was not reading",
    dropped: count,
  }) + "\n";
}

/**
 * The process's stderr: under Deno its own asynchronous write behind a queue (its
 * `process.stderr.write` blocks the event loop on a full pipe); under Node the stream itself.
 */
function stderrOfProcess(): LogSink {
  const deno = (globalThis as { Deno?: { stderr: { write(b: Uint8Array): Promise<number> } } })
    .Deno;
  if (isDeno && deno) return queuedSink((chunk) => deno.stderr.write(chunk));
  return streamSink(process.stderr);
}

// One per process, even when two bundles each carry this module (dist/cli.cjs and dist/mod.js).
const SHARED = Symbol.for("cohort.stderrSink");

/**
 * The process-wide sink of stderr (made on first use). A sink placed under
 * `Symbol.for("cohort.stderrSink")` on `globalThis` before it is first used takes its place (the
 * kill -9 tests' crash point, which must see each line in the logging call itself).
 */
export function stderrSink(): LogSink {
  const holder = globalThis as { [SHARED]?: LogSink };
  return holder[SHARED] ??= stderrOfProcess();
}

/**
 * Waits until the log lines on their way to stderr are written, at most `timeoutMs`: call it
 * before `process.exit`, which would drop them.
 */
export function flushLogs(timeoutMs = 1000): Promise<void> {
  const sink = (globalThis as { [SHARED]?: LogSink })[SHARED];
  return sink ? sink.flush(timeoutMs) : Promise.resolve();
}
