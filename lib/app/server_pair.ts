/**
 * The key pair an extension server presents: a pair in `STATE_DIR/certificates/NAME.crt|key`
 * (placed there by hand, restored from a backup, or made at first use for a server with a
 * dedicated certificate), else the cluster's.
 *
 * A pair found is served as it is when TLS can serve it, and refused otherwise, naming the file
 * and the fault: never replaced, since clients may pin its certificate. A message names files
 * relative to the state directory (`certificates/web.key`), because it is shown at
 * `GET /core/1.0/daemon/servers`; the error's `file` holds the whole path, for the log.
 *
 * @module
 */
import { chmod, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { InvalidInputError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { generateCertificate } from "../net/certificates.ts";
import { pairFault, type PemPair } from "./pair_fault.ts";
import { pairWriteError } from "./place_pair.ts";
import { makeDirDurably, writeDurablyAsync } from "../write_durably.ts";

export type { PemPair } from "./pair_fault.ts";

/** Where server `name`'s pair is found, and what to do when there is none. */
export interface PairSource {
  /** The member's state directory. */
  dir: string;
  /** The server's name (`certificates/NAME.crt|key`). */
  name: string;
  /** Make a pair of its own when none is there (else the cluster's is presented). */
  dedicated: boolean;
  /** The wall clock's time, ms since the epoch: a certificate must be valid then. */
  now: number;
  logger: Logger;
}

/** A cohort error naming `file` (a whole path, for the log) beside its message. */
export type FileError = Error & { file?: string };

/**
 * The pair server `o.name` presents; see the module docs.
 *
 * @throws {InvalidInputError} naming the file, for a pair that is there but cannot be served
 * @throws {NoSpaceError} or `DiskError` naming the file, when a new pair cannot be written
 */
export async function serverPair(o: PairSource): Promise<PemPair> {
  const dir = join(o.dir, "certificates");
  const crt = `${o.name}.crt`;
  const key = `${o.name}.key`;
  const [hasCrt, hasKey] = await Promise.all([present(dir, crt), present(dir, key)]);
  const instead = o.dedicated ? "to have a new pair made" : "to present the cluster's certificate";
  if (hasCrt && hasKey) {
    const pair = { cert: await read(dir, crt), key: await read(dir, key) };
    checkPair(dir, o.name, pair, o.now, instead);
    await narrow(dir, key, o.logger);
    return pair;
  }
  if (hasCrt) {
    throw refusal(
      dir,
      key,
      `is missing beside ${rel(crt)}: put its key there, or remove it ${instead}`,
    );
  }
  if (!o.dedicated) {
    if (hasKey) {
      throw refusal(
        dir,
        crt,
        `is missing beside ${rel(key)}: put its certificate there, or remove the key ${instead}`,
      );
    }
    const [cert, clusterKey] = await Promise.all(
      ["cluster.crt", "cluster.key"].map((f) => readFile(join(o.dir, f), "utf8")),
    );
    return { cert: cert!, key: clusterKey! };
  }
  // A key alone is what a full disk left of a pair being made (the key lands first): nobody
  // holds a certificate of it. Each file lands whole or not at all.
  const pair = await generateCertificate({ name: o.name });
  try {
    // A new folder is durable once its parent is synced: an operating-system crash could take
    // the pair clients may pin, and the next start would make another silently.
    await makeDirDurably(dir);
    await writeDurablyAsync(dir, join(dir, key), pair.key, 0o600);
    await writeDurablyAsync(dir, join(dir, crt), pair.cert, 0o644);
  } catch (err) {
    throw writeError(dir, `${rel(crt)} and ${rel(key)}`, err);
  }
  o.logger.info("Made a key pair for extension server", { server: o.name, file: join(dir, crt) });
  return pair;
}

const rel = (file: string) => `certificates/${file}`;

/** An {@link InvalidInputError} for `file` of `dir`: "certificates/F in the state directory …". */
function refusal(dir: string, file: string, fault: string): FileError {
  const err: FileError = new InvalidInputError(`${rel(file)} in the state directory ${fault}`);
  err.file = join(dir, file);
  return err;
}

/** Whether `file` of `dir` is there: a file, or a refusal for anything else in its place. */
async function present(dir: string, file: string): Promise<boolean> {
  try {
    const s = await stat(join(dir, file));
    if (s.isDirectory()) throw refusal(dir, file, "is a directory, not a file: replace it");
    if (!s.isFile()) throw refusal(dir, file, "is not a regular file: replace it");
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") return false;
    if (code === "ENOTDIR") {
      const err: FileError = new InvalidInputError(
        "certificates in the state directory is a file, not a directory: move it away",
      );
      err.file = dir;
      throw err;
    }
    throw readError(dir, file, err);
  }
}

async function read(dir: string, file: string): Promise<string> {
  try {
    return await readFile(join(dir, file), "utf8");
  } catch (err) {
    throw readError(dir, file, err);
  }
}

function readError(dir: string, file: string, err: unknown): FileError {
  const code = (err as { code?: string }).code;
  if ((err as FileError).file) return err as FileError;
  if (code === "EACCES" || code === "EPERM") {
    return refusal(
      dir,
      file,
      "cannot be read by this process (permission denied): give it to the member's user",
    );
  }
  return refusal(dir, file, `cannot be read (${code ?? "unknown error"})`);
}

function writeError(dir: string, files: string, err: unknown): FileError {
  const made: FileError = pairWriteError(files, err);
  made.file = dir;
  return made;
}

/**
 * Refuses (see {@link refusal}) a pair that cannot be served at `now` (`pair_fault.ts`), naming
 * its file and what to do.
 */
function checkPair(dir: string, name: string, pair: PemPair, now: number, instead: string): void {
  const [crt, key] = [`${name}.crt`, `${name}.key`];
  const fault = pairFault(pair, now, rel(crt));
  if (!fault) return;
  const file = fault.part === "crt" ? crt : key;
  switch (fault.kind) {
    case "not-pem":
      throw refusal(
        dir,
        file,
        fault.part === "crt"
          ? `is not a PEM certificate (cut short?): replace it, or remove it and ${rel(key)} ` +
            instead
          : "is not a PEM private key (cut short?): replace it",
      );
    case "encrypted":
      throw refusal(dir, file, "is encrypted: store the key unencrypted (mode 0600)");
    case "expired":
      throw refusal(dir, file, `${fault.text}: replace the pair`);
    default:
      throw refusal(dir, file, fault.text);
  }
}

/**
 * Makes a private key others may read 0600, as the member's own key is kept, with a warning;
 * refuses one this process cannot narrow (another user's).
 */
async function narrow(dir: string, key: string, logger: Logger): Promise<void> {
  const path = join(dir, key);
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  try {
    await chmod(path, 0o600);
  } catch {
    throw refusal(
      dir,
      key,
      `is readable by other users (mode 0${mode.toString(8)}) and this process cannot make it ` +
        "0600: chmod 600 it",
    );
  }
  logger.warn("Extension server key was readable by other users: made 0600", {
    file: path,
    mode: `0${mode.toString(8)}`,
  });
}
