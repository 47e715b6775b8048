/**
 * Member and cluster certificates: self-signed ECDSA P-256 leaves with a profile that both
 * OpenSSL (Node) and rustls (Deno) accept, their SHA-256 fingerprints, and the key-pair files in
 * the state directory.
 *
 * Trust in cohort is by fingerprint (see `microcluster.md` §1.7), so certificates are never
 * chained to a CA: every one is `CA:FALSE` and names exactly the DNS names and IPs it is dialled by
 * (rustls refuses a CA certificate used as a server certificate and one without a matching SAN).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { InvalidInputError } from "../errors.ts";
import { files } from "../files.ts";
import { silentLogger } from "../log.ts";
import type { Logger } from "../log.ts";
import { writeDurablyAsync } from "../write_durably.ts";
import { canonicalIp, isDnsName } from "./names.ts";

/** What a certificate must cover. */
export interface CertificateSpec {
  /** Member (or cluster) name: the subject CN and the first DNS SAN (an IP SAN if it is an IP). */
  name: string;
  /** Hostnames and IP literals (v4 or v6, brackets allowed) the holder is dialled by. */
  addresses?: readonly string[];
  /** Validity in days, from {@link BACKDATE_MS} before now. @default 3650 */
  days?: number;
}

/** A PEM certificate, its PKCS#8 PEM private key and the certificate's fingerprint. */
export interface KeyPair {
  cert: string;
  key: string;
  /** Lowercase hex SHA-256 of the certificate's DER, no separators. */
  fingerprint: string;
}

/** The subject alternative names of a certificate, IPs in canonical form. */
export interface CertificateNames {
  dns: string[];
  ip: string[];
}

const DEFAULT_DAYS = 3650;
const DAY_MS = 86_400_000;
/**
 * How long before its making a certificate is valid (`notBefore`), ms: a day. A peer pins a
 * member's certificate as its only CA, and TLS refuses one not valid yet by the peer's clock, so
 * a peer whose wall clock was behind the maker's by more than this could not connect to it (the
 * member looked down). A minute was too little: a peer 10 minutes behind refused every
 * certificate made in the last 9 (CERT_NOT_YET_VALID). Pinning by fingerprint is what
 * authenticates; the validity start only has to let members with disagreeing clocks talk.
 */
export const BACKDATE_MS = DAY_MS;
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

function splitNames(spec: CertificateSpec): CertificateNames {
  const dns: string[] = [];
  const ip: string[] = [];
  for (const raw of [spec.name, ...(spec.addresses ?? [])]) {
    const asIp = canonicalIp(raw);
    if (asIp !== undefined) {
      if (!ip.includes(asIp)) ip.push(asIp);
    } else if (isDnsName(raw)) {
      if (!dns.includes(raw)) dns.push(raw);
    } else {
      throw new InvalidInputError(
        `Generate certificate: "${raw}" is neither a host name nor an IP address`,
        { field: raw === spec.name ? "name" : "addresses" },
      );
    }
  }
  return { dns, ip };
}

function pemBody(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

/**
 * Creates a self-signed certificate for `spec`: ECDSA P-256, `CA:FALSE` and `digitalSignature`
 * (both critical), extended key usage serverAuth + clientAuth, a random positive 128-bit serial,
 * CN = `name`, and SANs listing the name and every address (DNS for names, IP for IP literals).
 *
 * @throws {InvalidInputError} when a name or address is neither a host name nor an IP literal,
 *   or `days` is not a positive integer
 */
export async function generateCertificate(spec: CertificateSpec): Promise<KeyPair> {
  const days = spec.days ?? DEFAULT_DAYS;
  if (!Number.isInteger(days) || days < 1) {
    throw new InvalidInputError(`Generate certificate: days must be a positive integer`, {
      field: "days",
    });
  }
  const { dns, ip } = splitNames(spec);
  // The Web Crypto global (Node 20, Deno): typed as the DOM's Crypto under Deno, as x509 wants.
  const crypto = globalThis.crypto;
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0] & 0x7f) | 0x40; // positive and exactly 16 bytes in DER
  const notBefore = new Date(Date.now() - BACKDATE_MS);
  const x509 = await loadX509();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(serial).toString("hex"),
    name: [{ CN: [spec.name] }],
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
      new x509.SubjectAlternativeNameExtension([
        ...dns.map((value) => ({ type: "dns" as const, value })),
        ...ip.map((value) => ({ type: "ip" as const, value })),
      ]),
    ],
  }, crypto);
  const pem = cert.toString("pem") + "\n";
  const key = pemBody("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { cert: pem, key, fingerprint: fingerprint(pem) };
}

/**
 * The lowercase hex SHA-256 of a PEM certificate's DER encoding: the value cohort pins and keeps
 * in trust stores. Equal to node:crypto's `X509Certificate.fingerprint256` without the colons.
 *
 * @throws {InvalidInputError} when `pem` holds no certificate
 */
export function fingerprint(pem: string): string {
  let fp = fingerprints.get(pem);
  if (fp === undefined) {
    fp = createHash("sha256").update(parseCertificate(pem).raw).digest("hex");
    // A member meets the same few certificates on every request and view change: parsing one
    // costs far more than the lookup. Bounded: cleared whole when full.
    if (fingerprints.size >= 1024) fingerprints.clear();
    fingerprints.set(pem, fp);
  }
  return fp;
}

/** Fingerprints of the certificates met lately, by PEM. */
const fingerprints = new Map<string, string>();

/** DNS and IP subject alternative names of a PEM certificate (IPs in canonical form). */
export function certificateNames(pem: string): CertificateNames {
  const names: CertificateNames = { dns: [], ip: [] };
  // node:crypto renders the SANs as "DNS:a, IP Address:127.0.0.1"; cohort's own names are plain
  // DNS names and IPs, which it never quotes.
  for (const item of (parseCertificate(pem).subjectAltName ?? "").split(", ")) {
    if (item.startsWith("DNS:")) names.dns.push(item.slice(4));
    else if (item.startsWith("IP Address:")) {
      const value = item.slice(11);
      names.ip.push(canonicalIp(value) ?? value);
    }
  }
  return names;
}

/**
 * Loads @peculiar/x509 on first use: only certificate generation needs it, and it (with its
 * dependency-injection container) costs a process that loaded it about 9 MB for good, which is
 * why a daemon generates in a child process (see `cert_issuer.ts`).
 */
async function loadX509(): Promise<typeof import("@peculiar/x509")> {
  await import("reflect-metadata"); // its tsyringe needs a Reflect polyfill before it loads
  return await import("@peculiar/x509");
}

function parseCertificate(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new InvalidInputError(`Parse certificate: not a PEM X.509 certificate`, { cause: err });
  }
}

/**
 * A pair read from files, parsed: its certificate (the first of the file, for a chain), its
 * private key, and whether the key is the certificate's. `damaged(file, cause)` is what it throws
 * when the certificate (`"crt"`) or the key (`"key"`) holds no PEM certificate or private key
 * (`cause`: the runtime's error): each caller names its files in its own words.
 */
export function parsePemPair(
  pair: { cert: string; key: string },
  damaged: (file: "crt" | "key", cause: unknown) => Error,
): { certificate: X509Certificate; key: KeyObject; matches: boolean } {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pair.cert);
  } catch (err) {
    throw damaged("crt", err);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pair.key);
  } catch (err) {
    throw damaged("key", err);
  }
  return { certificate, key, matches: certificate.checkPrivateKey(key) };
}

/**
 * Why an existing pair must be replaced, or `undefined` when it still serves `spec`.
 *
 * @throws {InvalidInputError} naming the file (its base name: the message may cross the wire)
 *   that holds no certificate or no private key
 */
function staleReason(
  pair: { cert: string; key: string },
  base: string,
  spec: CertificateSpec,
): string | undefined {
  const { certificate: cert, matches } = parsePemPair(pair, (file) =>
    new InvalidInputError(
      `${base}.${file} in the state directory is not ${
        file === "crt" ? "a PEM X.509 certificate" : "a PEM private key"
      }: restore it, or remove ${base}.crt and ${base}.key to have a new pair made`,
    ));
  if (!matches) return "key does not match certificate";
  if (Date.parse(cert.validTo) <= Date.now()) return "certificate expired";
  const want = splitNames(spec);
  const have = certificateNames(pair.cert);
  const missing = [...want.dns.filter((n) => !have.dns.includes(n))]
    .concat(want.ip.filter((n) => !have.ip.includes(n)));
  return missing.length > 0 ? `names not covered: ${missing.join(", ")}` : undefined;
}

/** Whether `text` holds nothing but zeros and white space: what a crash leaves of a write. */
function blank(text: string): boolean {
  return /^[\s\0]*$/.test(text);
}

/**
 * Loads `<dir>/<basename>.crt` and `<dir>/<basename>.key`, or creates them when either is
 * missing or blank, the key does not match, the certificate expired or its SANs do not cover
 * `spec`. For a member that has not joined (bootstrap and join call it): nobody knows its pair
 * yet, so a blank file (empty or zeros, as an operating-system crash leaves a write it had not
 * synced, from an earlier release that renamed its pairs unsynced) is replaced, with a warning
 * naming it; a file holding something else was placed there, and is refused.
 * Files are replaced atomically and durably (`writeDurablyAsync`: temporary file, fsync, rename,
 * fsync of the directory), key first, the key with mode 0600;
 * `dir` is created with mode 0700 when missing. A new pair comes from `issuer` (default:
 * {@link generateCertificate} in this process).
 *
 * @throws {InvalidInputError} naming the file, when one exists, not blank, but holds no valid
 *   certificate or key
 */
export async function loadOrCreateKeyPair(
  dir: string,
  basename: "server" | "cluster",
  spec: CertificateSpec,
  logger: Logger = silentLogger,
  issuer: { issue(spec: CertificateSpec): Promise<KeyPair> } = { issue: generateCertificate },
): Promise<KeyPair> {
  const certPath = join(dir, `${basename}.crt`);
  const keyPath = join(dir, `${basename}.key`);
  const [cert, key] = await Promise.all([readOptional(certPath), readOptional(keyPath)]);
  let reason = "missing";
  const empty = ([[".crt", cert], [".key", key]] as const).find(([, t]) =>
    t !== undefined && blank(t)
  );
  if (empty) reason = `${basename}${empty[0]} empty (a write a crash cut short)`;
  else if (cert !== undefined && key !== undefined) {
    const stale = staleReason({ cert, key }, basename, spec);
    if (stale === undefined) {
      await files().chmod(keyPath, 0o600);
      return { cert, key, fingerprint: fingerprint(cert) };
    }
    reason = stale;
  }
  const pair = await issuer.issue(spec);
  await files().mkdir(dir, { recursive: true, mode: 0o700 });
  await writeDurablyAsync(dir, keyPath, pair.key, 0o600);
  await writeDurablyAsync(dir, certPath, pair.cert, 0o644);
  // Replacing an existing identity changes the fingerprint peers pin, so make it stand out.
  const log = reason === "missing" ? logger.info : logger.warn;
  log.call(logger, "Generated key pair", { file: certPath, reason, fingerprint: pair.fingerprint });
  return pair;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await files().readFile(path);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw err;
  }
}
