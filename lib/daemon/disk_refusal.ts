/**
 * The 507 answers of a flow whose store write failed: what happened, then why (a full disk, or a
 * read-only or failing one) and what the operator can do. A flow that answers for a store write
 * (a removal, a token issued or revoked, a restart's own row) says so instead of answering as if
 * the write had landed.
 *
 * @module
 */
import {
  describeDiskFault,
  DiskError,
  diskFault,
  isCohortError,
  isNoSpace,
  NoSpaceError,
} from "../errors.ts";

/**
 * The 507 a request answers when this member's disk failed it: `what` happened (e.g. `Cannot
 * remove "m2": nothing changed`), then why, and that another member can do it; `err` itself
 * when it is no disk's fault.
 */
export function diskRefusal(err: unknown, what: string): unknown {
  if (isNoSpace(err)) {
    return new NoSpaceError(
      `${what}: no space left on this member's disk: free space in the file system of its ` +
        "state directory and try again, or run it on another member",
      { cause: err },
    );
  }
  const fault = diskFault(err);
  if (fault === undefined) return err;
  return new DiskError(
    `${what}: cannot write to this member's disk: ${describeDiskFault(fault)}, or run it on ` +
      "another member",
    { cause: err },
  );
}

/** How every refused start's message begins (the CLI prints it after "Error: "). */
export const START_REFUSED = "Cannot start daemon: ";

/**
 * What a start throws when the disk of its state directory `dir` failed it: the one wording of
 * every such refusal, whatever the step (its lock, its database, the app's migrations, its own
 * row, clearing what an initialisation cut short) and whatever the fault (a full disk, a
 * read-only file system, an I/O error). It names `dir`, the fault and, where given, `what` the
 * start could not read or write (e.g. "its own row"); `err` itself when it is no disk's fault.
 * The store's own message is not kept: it names no directory (a member printed "Clear
 * replicated records: …" or "Open database: …" alone).
 */
export function startRefusal(err: unknown, what: string | undefined, dir: string): unknown {
  // Named already by the step that met it (the outer steps name it again otherwise).
  if (isCohortError(err) && err.message.startsWith(START_REFUSED)) return err;
  if (isNoSpace(err)) {
    return new NoSpaceError(
      `${START_REFUSED}no space left on the disk of state directory "${dir}"` +
        `${
          what === undefined ? "" : ` for ${what}`
        }: free space in its file system and start again`,
      { cause: err },
    );
  }
  const fault = diskFault(err);
  if (fault === undefined) return err;
  const read = failedRead(err);
  // A store error (E_DISK) hides which fault it was; a read SQLite could not make is named so.
  const kind = fault === "E_DISK" && read ? "EREAD" : fault;
  const doing = what === undefined ? "" : `cannot ${read ? "read" : "write"} ${what}: `;
  return new DiskError(
    `${START_REFUSED}${doing}${describeDiskFault(kind, dir)}, and start again`,
    { cause: err },
  );
}

/** SQLite's codes for a read that failed (it reports an EIO on a read as a damaged file). */
const READ_CODES = /^SQLITE_(CORRUPT|NOTADB|IOERR_READ|IOERR_SHORT_READ|IOERR_CORRUPTFS)/;

/** Whether `err` (or its `cause` chain) failed a read rather than a write. */
function failedRead(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const { code, extendedCode, syscall } = current as Error & Record<string, unknown>;
    if (typeof extendedCode === "string" && READ_CODES.test(extendedCode)) return true;
    if (typeof code === "string" && READ_CODES.test(code)) return true;
    if (syscall === "read") return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
