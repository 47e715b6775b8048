/**
 * Places a key pair handed over the API where an extension server finds its own
 * (`STATE_DIR/certificates/NAME.crt|key`, `server_pair.ts`): both files or neither. Each file is
 * replaced durably (`write_durably.ts`: whole or not at all); when the second cannot be
 * written, the first is put back as it was (or removed, when there was none), so that a full
 * disk never leaves a new key beside an old certificate. Only a crash between the two leaves
 * them apart: `server_pair.ts` then refuses the pair at the next start, naming the key ("is not
 * the key of"), and the same request places it again.
 *
 * @module
 */
import { join } from "node:path";
import { describeDiskFault, DiskError, diskFault, isNoSpace, NoSpaceError } from "../errors.ts";
import { files as fs } from "../files.ts";
import { makeDirDurably, syncDirAsync, writeDurablyAsync } from "../write_durably.ts";
import type { PemPair } from "./pair_fault.ts";

/**
 * Writes `pair` as server `name`'s own under state directory `dir` (the key first, mode 0600;
 * then the certificate, 0644), or leaves both files as they were.
 *
 * @throws {NoSpaceError} or {@link DiskError} naming the files (relative to the state directory)
 */
export async function placePair(dir: string, name: string, pair: PemPair): Promise<void> {
  const certs = join(dir, "certificates");
  const [crt, key] = [join(certs, `${name}.crt`), join(certs, `${name}.key`)];
  const files = `certificates/${name}.crt and certificates/${name}.key`;
  try {
    await makeDirDurably(certs);
  } catch (err) {
    throw pairWriteError(files, err);
  }
  const before = await fs().readFile(key).catch(() => undefined);
  try {
    await writeDurablyAsync(certs, key, pair.key, 0o600);
  } catch (err) {
    throw pairWriteError(files, err);
  }
  try {
    await writeDurablyAsync(certs, crt, pair.cert, 0o644);
  } catch (err) {
    // Put the key back: the certificate in place is the old one (or none).
    await (before === undefined
      ? fs().rm(key, { force: true }).then(() => syncDirAsync(certs))
      : writeDurablyAsync(certs, key, before, 0o600)).catch(() => {});
    throw pairWriteError(files, err);
  }
}

/**
 * The error for `files` (named relative to the state directory) that could not be written: a
 * full disk ({@link NoSpaceError}), a failing or read-only one, or another ({@link DiskError}).
 */
export function pairWriteError(files: string, err: unknown): Error {
  const fault = diskFault(err);
  return isNoSpace(err)
    ? new NoSpaceError(`${files} could not be written: the disk is full; free space`)
    : fault
    ? new DiskError(`${files} could not be written: ${describeDiskFault(fault)}`)
    : new DiskError(
      `${files} could not be written (${(err as { code?: string }).code ?? "unknown error"})`,
    );
}
