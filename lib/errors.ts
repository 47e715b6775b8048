/**
 * cohort's error family. Every error a caller can act on is a {@link CohortError} with a stable
 * string `code` and the HTTP status a route answers with. Anything else that escapes to a route
 * is an internal fault and is reported as a generic 500 without details.
 *
 * Messages follow one style: sentence case, no trailing period, quoted values, the action that
 * failed first and the detail after a colon.
 *
 * @module
 */

/** Stable machine-readable error codes. Never renamed once released. */
export type ErrorCode =
  | "E_INVALID"
  | "E_NOT_FOUND"
  | "E_CONFLICT"
  | "E_FORBIDDEN"
  | "E_UNAVAILABLE"
  | "E_NOT_SUPPORTED"
  | "E_INCOMPATIBLE"
  | "E_LOCKED"
  | "E_TOO_LARGE"
  | "E_TIMEOUT"
  | "E_TOO_MANY"
  | "E_NO_SPACE"
  | "E_DISK"
  | "E_FD_LIMIT"
  | "E_INTERNAL";

/** Base class of every error cohort raises on purpose. */
export class CohortError extends Error {
  /** Stable code, e.g. `"E_INVALID"`. */
  readonly code: ErrorCode;
  /** HTTP status that a route maps this error to. */
  readonly status: number;

  constructor(code: ErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/** Bad input: a request field, a CLI argument or a configuration value breaks a rule (400). */
export class InvalidInputError extends CohortError {
  /** Dotted path of the offending field (`"extensions.2"`), when one field is to blame. */
  readonly field?: string;
  constructor(message: string, options?: { field?: string; cause?: unknown }) {
    super("E_INVALID", 400, message, options);
    this.field = options?.field;
  }
}

/** The named thing does not exist (404). */
export class NotFoundError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_NOT_FOUND", 404, message, options);
  }
}

/** The request conflicts with the current state, e.g. bootstrapping twice (409). */
export class ConflictError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_CONFLICT", 409, message, options);
  }
}

/** The caller is not trusted for this endpoint (403). */
export class ForbiddenError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_FORBIDDEN", 403, message, options);
  }
}

/** The member cannot serve this yet (not initialised, waiting, shutting down) (503). */
export class UnavailableError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_UNAVAILABLE", 503, message, options);
  }
}

/** The operation exists in the protocol but this member does not support it yet (501). */
export class NotSupportedError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_NOT_SUPPORTED", 501, message, options);
  }
}

/** Two members' API extensions or schema versions do not match (409). */
export class IncompatibleError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_INCOMPATIBLE", 409, message, options);
  }
}

/** The state directory is in use by another daemon (409). */
export class LockedError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_LOCKED", 409, message, options);
  }
}

/** A request (its body, its headers) is larger than the endpoint accepts (413). */
export class TooLargeError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_TOO_LARGE", 413, message, options);
  }
}

/** The client did not send its request (headers or body) in time (408). */
export class RequestTimeoutError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_TIMEOUT", 408, message, options);
  }
}

/** One client holds more than its share of connections or buffered request bytes (429). */
export class TooManyRequestsError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_TOO_MANY", 429, message, options);
  }
}

/**
 * The member's disk is full (507, HTTP's "Insufficient Storage"): what the request had to write
 * could not be written, and what was written of it is taken back. The member keeps serving;
 * freeing space on the file system of its state directory makes the request work again.
 */
export class NoSpaceError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_NO_SPACE", 507, message, options);
  }
}

/** The file system's codes for a full disk or quota, and SQLite's. */
const NO_SPACE_CODES: ReadonlySet<string> = new Set(["ENOSPC", "EDQUOT", "SQLITE_FULL"]);

/**
 * Whether `err` (or an error in its `cause` chain) says the disk is full: a `node:fs` error
 * with code `ENOSPC` or `EDQUOT`, SQLite's `SQLITE_FULL`, or a {@link NoSpaceError}.
 */
export function isNoSpace(err: unknown): boolean {
  return codeInChain(err, "E_NO_SPACE", NO_SPACE_CODES) !== undefined;
}

/**
 * The first of `codes` in `err`'s `cause` chain (5 deep), else `own` when an error of the chain
 * has it: the system's code says more than cohort's own (a DiskError around an `EROFS` is a
 * read-only file system, not "a write failed").
 */
function codeInChain(err: unknown, own: string, codes: ReadonlySet<string>): string | undefined {
  let current: unknown = err;
  let ours = false;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const { code } = current as Error & { code?: unknown };
    if (typeof code === "string" && codes.has(code)) return code;
    ours ||= code === own;
    current = (current as { cause?: unknown }).cause;
  }
  return ours ? own : undefined;
}

/**
 * The member's disk refuses to write or read (507, as for a full disk: what the request had to
 * write could not be stored): the file system of its state directory is read-only (ext4 remounts
 * itself so after an I/O error), or an I/O failed. What was written of the request is taken
 * back where the disk lets it; the member keeps serving what it holds in memory. Repairing the
 * file system (and remounting it read-write) makes the request work again.
 */
export class DiskError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_DISK", 507, message, options);
  }
}

/** The file system's codes for a disk that refuses writes (read-only) or fails its I/O. */
const DISK_FAULT_CODES: ReadonlySet<string> = new Set(["EROFS", "EIO"]);

/**
 * The disk fault `err` (or an error in its `cause` chain) reports: `"EROFS"` (a read-only file
 * system), `"EIO"` (an I/O error) from `node:fs`, or `"E_DISK"` for a {@link DiskError};
 * `undefined` for anything else (a full disk is {@link isNoSpace}).
 */
export function diskFault(err: unknown): string | undefined {
  return codeInChain(err, "E_DISK", DISK_FAULT_CODES);
}

/**
 * What a disk fault of `code` (as {@link diskFault} names it, or `"EREAD"`: a read that failed,
 * which SQLite cannot tell from a damaged file) means, for a message: where `dir` is given, it
 * names that state directory.
 */
export function describeDiskFault(code: string | undefined, dir?: string): string {
  const where = dir === undefined ? "its state directory" : `state directory "${dir}"`;
  if (code === "EROFS") {
    return `the file system of ${where} is read-only (it may have been remounted read-only ` +
      "after an I/O error): repair it, make it writable again";
  }
  if (code === "EREAD") {
    return `the disk of ${where} failed a read (EIO), or a file in it is damaged: check the ` +
      "disk and its file system";
  }
  if (code === "EIO") {
    return `the disk of ${where} failed an I/O operation (EIO): check the disk and its file ` +
      "system";
  }
  return `the disk of ${where} failed a write (read-only or failing): check the disk and its ` +
    "file system";
}

/**
 * The member is out of file descriptors (503): it could not open a file or a socket the request
 * needed (`EMFILE`: its own limit of open files, `ulimit -n` or systemd's `LimitNOFILE`;
 * `ENFILE`: the machine's). What it holds is unchanged; raising the limit makes the request
 * work again.
 */
export class DescriptorLimitError extends CohortError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_FD_LIMIT", 503, message, options);
  }
}

/** The codes for a process (`EMFILE`) or a machine (`ENFILE`) out of file descriptors. */
const DESCRIPTOR_CODES: ReadonlySet<string> = new Set(["EMFILE", "ENFILE"]);

/**
 * `"EMFILE"` or `"ENFILE"` when `err` (or an error in its `cause` chain) says the process or the
 * machine is out of file descriptors, `"E_FD_LIMIT"` for a {@link DescriptorLimitError};
 * `undefined` for anything else.
 */
export function descriptorFault(err: unknown): string | undefined {
  return codeInChain(err, "E_FD_LIMIT", DESCRIPTOR_CODES);
}

/**
 * What running out of file descriptors (`code` as {@link descriptorFault} names it) means, for
 * a message: `who` is out of them ("the member", or a member's name), `limit` its limit of open
 * files where known.
 */
export function describeDescriptorLimit(
  code: string | undefined,
  who: string,
  limit?: number,
): string {
  if (code === "ENFILE") {
    return `the machine of ${who} is out of file descriptors (ENFILE): raise the system's ` +
      "limit (fs.file-max) or close what holds them";
  }
  const of = limit === undefined ? "" : ` (limit ${limit})`;
  return `${who} is out of file descriptors${of}: raise its limit of open files ` +
    "(LimitNOFILE, ulimit -n)";
}

/** Reports whether `err` is one of cohort's own errors (by `code`, so it survives duplicate copies). */
export function isCohortError(err: unknown): err is CohortError {
  if (!(err instanceof Error)) return false;
  const { code, status } = err as Error & { code?: unknown; status?: unknown };
  return typeof code === "string" && code.startsWith("E_") && typeof status === "number";
}
