/**
 * A small structured logger that writes one JSON object per line (NDJSON) using pino's field
 * names (`level` as a number, `time` in ms since the epoch, `msg`, then bindings and fields), so
 * its output can be piped into `pino-pretty` or any log shipper.
 *
 * Logs go to stderr by default (`log_sink.ts`: a reader that stalls or goes away costs lines, never
 * the process); stdout is reserved for command output.
 *
 * @module
 */
import process from "node:process";
import { stderrSink } from "./log_sink.ts";

/** Level names, lowest first. */
export type LevelName = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

/** pino's numeric levels. `silent` suppresses everything. */
export const LEVELS: Readonly<Record<LevelName, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

/** Extra key/value pairs attached to a log line. */
export type Fields = Record<string, unknown>;

/** The logging interface every component receives (injected, never imported as a global). */
export interface Logger {
  /** Numeric threshold below which lines are dropped. Check it before building costly fields. */
  readonly level: number;
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `bindings` (e.g. `{ component: "gossip:probe" }`) to every line. */
  child(bindings: Fields): Logger;
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level written. @default "info" (or `COHORT_LOG_LEVEL` when set) */
  level?: LevelName;
  /** Where lines go. @default stderr, through a queue its reader cannot stall ({@link stderrSink}) */
  write?: (line: string) => void;
  /** Fields added to every line. */
  bindings?: Fields;
  /** Clock in ms since the epoch. @default Date.now */
  now?: () => number;
}

function errorFields(value: unknown): unknown {
  // Error objects stringify to {}; keep name, code and message but never the stack of a
  // query error, whose message may carry bound parameters (callers must redact those first).
  if (value instanceof Error) {
    const out: Fields = { name: value.name, message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    return out;
  }
  return value;
}

class JsonLogger implements Logger {
  readonly level: number;
  #write: (line: string) => void;
  #bindings: Fields;
  #now: () => number;

  constructor(level: number, write: (line: string) => void, bindings: Fields, now: () => number) {
    this.level = level;
    this.#write = write;
    this.#bindings = bindings;
    this.#now = now;
  }

  #log(level: number, msg: string, fields?: Fields): void {
    if (level < this.level) return;
    const line: Fields = { level, time: this.#now(), ...this.#bindings, msg };
    if (fields) { for (const k in fields) line[k] = errorFields(fields[k]); }
    let text: string;
    try {
      text = JSON.stringify(line);
    } catch {
      text = JSON.stringify({ level, time: line.time, ...this.#bindings, msg });
    }
    this.#write(text + "\n");
  }

  debug(msg: string, fields?: Fields): void {
    this.#log(20, msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.#log(30, msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.#log(40, msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.#log(50, msg, fields);
  }
  child(bindings: Fields): Logger {
    return new JsonLogger(this.level, this.#write, { ...this.#bindings, ...bindings }, this.#now);
  }
}

/** Parses a level name, returning `undefined` for anything unknown. */
export function parseLevel(name: string | undefined): LevelName | undefined {
  if (name === undefined) return undefined;
  const lower = name.toLowerCase();
  return lower in LEVELS ? lower as LevelName : undefined;
}

/** Creates an NDJSON logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? parseLevel(process.env.COHORT_LOG_LEVEL) ?? "info";
  const write = options.write ?? ((line: string) => stderrSink().write(line));
  return new JsonLogger(LEVELS[level], write, options.bindings ?? {}, options.now ?? Date.now);
}

/** A logger that drops everything (tests, simulations). */
export const silentLogger: Logger = createLogger({ level: "silent", write: () => {} });
