/**
 * Turns anything a handler throws into an error envelope. cohort's own errors keep their status
 * and message; validation errors become 400s naming the field and the rule; everything else is an
 * internal fault, logged here and answered with a generic 500 that leaks nothing (no stack, no
 * SQL, no parameters), except a disk that is full, read-only or failing: a 507 that says so, and
 * a member out of file descriptors: a 503 that says so.
 *
 * @module
 */
import { StructError } from "superstruct";
import {
  describeDescriptorLimit,
  describeDiskFault,
  descriptorFault,
  DescriptorLimitError,
  DiskError,
  diskFault,
  isCohortError,
  isNoSpace,
  NoSpaceError,
} from "../lib/errors.ts";
import { monotonicNow } from "../lib/cluster/monotonic_now.ts";
import type { Logger } from "../lib/log.ts";
import { openFileLimit } from "../lib/open_files.ts";
import { failure } from "./envelope.ts";

/**
 * Describes a superstruct failure without echoing the offending value (it may be a secret such
 * as a join token): superstruct's own messages end in `but received: <value>`.
 */
export function describeStructError(err: StructError): string {
  const parts = err.failures().map((f) => {
    const field = f.path.length ? f.path.join(".") : "body";
    let rule = f.message.replace(/,? but received[\s\S]*$/, "");
    if (f.type === "never") rule = "unknown field";
    return `${field}: ${rule}`;
  });
  return `Invalid request body: ${parts.join("; ")}`;
}

/** What a request that met a full disk (`ENOSPC`, `EDQUOT`) is answered. */
export const NO_SPACE_MESSAGE =
  "No space left on the member's disk: free space in the file system of its state directory " +
  "and try again";

/**
 * What a request that met a read-only file system (`EROFS`) or an I/O error (`EIO`) is answered:
 * it names the fault, never a path (the client may be another member).
 */
export function diskMessage(code: string): string {
  return `Cannot write to the member's disk: ${describeDiskFault(code)} and try again`;
}

/**
 * What a request that met the member's limit of open files (`EMFILE`, or the machine's:
 * `ENFILE`) is answered: the limit where it can be read, never a path.
 */
export function descriptorMessage(code: string | undefined): string {
  return `Cannot serve the request: ${
    describeDescriptorLimit(code, "the member", code === "ENFILE" ? undefined : openFileLimit())
  }, and try again`;
}

/** Least time between two log lines of requests failed for want of descriptors, ms. */
export const DESCRIPTOR_LOG_MS = 60_000;
/** Per logger: when its last such line was, and the failures since that it did not log. */
const descriptorLogs = new WeakMap<Logger, { at: number; since: number }>();

/** Maps a thrown value to an error envelope (see module docs). */
export function errorResponse(err: unknown, logger: Logger, request?: Request): Response {
  if (err instanceof StructError) return failure(400, describeStructError(err));
  if (isCohortError(err)) return failure(err.status, err.message);
  // A full disk, a read-only file system (ext4 remounts itself so after an I/O error) or EIO is
  // the operator's to fix, not a fault of ours: a 507 that says so (not a bare 500).
  const noSpace = isNoSpace(err);
  const fault = noSpace ? undefined : diskFault(err);
  if (noSpace || fault !== undefined) {
    const e = err as { code?: unknown; syscall?: unknown };
    logger.warn(
      fault === undefined
        ? "Request failed: no space left on the member's disk"
        : "Request failed: the member's disk refuses writes or fails",
      {
        method: request?.method,
        path: request ? new URL(request.url).pathname : undefined,
        error_code: e.code,
        syscall: e.syscall,
      },
    );
    const failed = fault === undefined
      ? new NoSpaceError(NO_SPACE_MESSAGE)
      : new DiskError(diskMessage(fault));
    return failure(failed.status, failed.message);
  }
  // Out of file descriptors: the operator's to fix (raise the limit), and a member at its limit
  // fails every request that opens a file or a socket, so one line per DESCRIPTOR_LOG_MS.
  const descriptors = descriptorFault(err);
  if (descriptors !== undefined) {
    const e = err as { code?: unknown };
    const now = monotonicNow(); // a step back of the wall clock silenced the log for its length
    const note = descriptorLogs.get(logger) ?? { at: -Infinity, since: 0 };
    descriptorLogs.set(logger, note);
    if (now - note.at >= DESCRIPTOR_LOG_MS) {
      logger.warn("Requests fail: the member is out of file descriptors", {
        method: request?.method,
        path: request ? new URL(request.url).pathname : undefined,
        error_code: e.code,
        limit: openFileLimit(),
        failed_since_last_line: note.since,
      });
      note.at = now;
      note.since = 0;
    } else note.since++;
    const failed = new DescriptorLimitError(descriptorMessage(descriptors));
    return failure(failed.status, failed.message);
  }
  // Only the error's class and code are logged: messages of driver errors can embed bound
  // parameters (tokens, secrets).
  const e = err as { name?: string; code?: unknown };
  logger.error("Request failed with an internal error", {
    method: request?.method,
    path: request ? new URL(request.url).pathname : undefined,
    error_name: e?.name,
    error_code: e?.code,
  });
  return failure(500, "Internal server error");
}
