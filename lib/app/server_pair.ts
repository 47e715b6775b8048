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
import { type KeyObject, X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  describeDiskFault,
  DiskError,
  diskFault,
  InvalidInputError,
  isNoSpace,
  NoSpaceError,
} from "../errors.ts";
import type { Logger } from "../log.ts";
import { generateCertificate, parsePemPair } from "../net/certificates.ts";
import { syncDirAsync, writeDurablyAsync } from "../write_durably.ts";

/** A PEM certificate (or chain, the server's own first) and its PEM private key. */
export interface PemPair {
  cert: string;
  key: string;
}

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
 * @throws {NoSpaceError} or {@link DiskError} naming the file, when a new pair cannot be written
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
    if (await mkdir(dir, { recursive: true, mode: 0o700 })) await syncDirAsync(o.dir);
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
  const fault = diskFault(err);
  const made: FileError = isNoSpace(err)
    ? new NoSpaceError(`${files} could not be written: the disk is full; free space`)
    : fault
    ? new DiskError(`${files} could not be written: ${describeDiskFault(fault)}`)
    : new DiskError(`${files} could not be written (${(err as { code?: string }).code ?? err})`);
  made.file = dir;
  return made;
}

/** Curves TLS clients verify (rustls: these three only), by node:crypto's names. */
const CURVES: Record<string, string> = {
  prime256v1: "P-256",
  secp384r1: "P-384",
  secp521r1: "P-521",
};

/** "an EC P-256 key", "an RSA key of 2048 bits", "an Ed25519 key". */
function describeKey(k: KeyObject): string {
  const d = k.asymmetricKeyDetails ?? {};
  switch (k.asymmetricKeyType) {
    case "rsa":
    case "rsa-pss":
      return `an ${k.asymmetricKeyType.toUpperCase()} key of ${d.modulusLength} bits`;
    case "ec": {
      const curve = String(d.namedCurve);
      return `an EC ${CURVES[curve] ?? curve} key`;
    }
    case "ed25519":
      return "an Ed25519 key";
    default:
      return `a ${String(k.asymmetricKeyType).toUpperCase()} key`;
  }
}

/** Whether TLS clients of both runtimes accept a server key like `k`. */
function servable(k: KeyObject): boolean {
  const d = k.asymmetricKeyDetails ?? {};
  if (k.asymmetricKeyType === "rsa") return (d.modulusLength ?? 0) >= 2048;
  if (k.asymmetricKeyType === "ec") return String(d.namedCurve) in CURVES;
  return k.asymmetricKeyType === "ed25519";
}

/**
 * Refuses (see {@link refusal}) a pair whose files hold no PEM certificate or key, whose
 * certificate's key TLS cannot serve, whose key is not the certificate's, or whose certificate
 * is not valid at `now`.
 */
function checkPair(dir: string, name: string, pair: PemPair, now: number, instead: string): void {
  const [crt, key] = [`${name}.crt`, `${name}.key`];
  const parsed = parsePemPair(
    pair,
    (file) =>
      file === "crt"
        ? refusal(
          dir,
          crt,
          `is not a PEM certificate (cut short?): replace it, or remove it and ` +
            `${rel(key)} ${instead}`,
        )
        : refusal(
          dir,
          key,
          pair.key.includes("ENCRYPTED")
            ? "is encrypted: store the key unencrypted (mode 0600)"
            : "is not a PEM private key (cut short?): replace it",
        ),
  );
  const { certificate } = parsed;
  if (!servable(certificate.publicKey)) {
    throw refusal(
      dir,
      crt,
      `holds ${describeKey(certificate.publicKey)}, which TLS clients do not accept: use ` +
        "RSA of 2048 bits or more, EC P-256, P-384 or P-521, or Ed25519",
    );
  }
  if (!parsed.matches) {
    const mine = describeKey(parsed.key);
    const its = describeKey(certificate.publicKey);
    const later = chain(pair.cert).findIndex((c, i) => i > 0 && c.checkPrivateKey(parsed.key));
    const why = mine !== its
      ? `: ${mine}, the certificate's ${its}`
      : later > 0
      ? `: it is the key of the file's certificate ${later + 1} ` +
        `(${chain(pair.cert)[later]!.subject.replaceAll("\n", ", ")}): put the server's own ` +
        "certificate first"
      : "";
    throw refusal(dir, key, `is not the key of ${rel(crt)}${why}`);
  }
  const from = Date.parse(certificate.validFrom);
  const to = Date.parse(certificate.validTo);
  if (now < from) {
    throw refusal(
      dir,
      crt,
      `is not valid before ${new Date(from).toISOString()} by this member's clock`,
    );
  }
  if (now > to) {
    throw refusal(dir, crt, `expired at ${new Date(to).toISOString()}: replace the pair`);
  }
}

/** Every certificate of a PEM file, in its order (those that parse). */
function chain(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  const out: X509Certificate[] = [];
  for (const b of blocks ?? []) {
    try {
      out.push(new X509Certificate(b));
    } catch { /* not a certificate: the first is checked on its own */ }
  }
  return out;
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
