/**
 * The 507 answers of a flow whose store write failed: what happened, then why (a full disk, or a
 * read-only or failing one) and what the operator can do. A flow that answers for a store write
 * (a removal, a token issued or revoked, a restart's own row) says so instead of answering as if
 * the write had landed.
 *
 * @module
 */
import { describeDiskFault, DiskError, diskFault, isNoSpace, NoSpaceError } from "../errors.ts";

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
 * What a start throws when its store could not take `what` (e.g. its own row): the start fails
 * naming state directory `dir` and the fault, as a start that could not write its lock does;
 * `err` itself when it is no disk's fault.
 */
export function startRefusal(err: unknown, what: string, dir: string): unknown {
  if (isNoSpace(err)) return startNoSpace(err, what, dir);
  const fault = diskFault(err);
  if (fault === undefined) return err;
  return new DiskError(
    `${START_REFUSED}cannot write ${what}: ${describeDiskFault(fault, dir)}, and start ` +
      "again",
    { cause: err },
  );
}

/**
 * What a start throws when a full disk kept it from writing `what` (e.g. its database, which an
 * open may have to write): the start fails naming state directory `dir`; `err` itself when the
 * disk is not full (a step that also reads says itself what failed).
 */
export function startNoSpace(err: unknown, what: string, dir: string): unknown {
  if (!isNoSpace(err)) return err;
  return new NoSpaceError(
    `${START_REFUSED}no space left on the disk of state directory "${dir}" for ${what}: ` +
      "free space in its file system and start again",
    { cause: err },
  );
}
