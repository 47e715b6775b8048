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
import { createHash, createPrivateKey, webcrypto, X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { InvalidInputError } from "../errors.ts";
import * as der from "./der.ts";
import { silentLogger } from "../log.ts";
import type { Logger } from "../log.ts";
import { canonicalIp, isDnsName } from "./names.ts";

/** What a certificate must cover. */
export interface CertificateSpec {
  /** Member (or cluster) name: the subject CN and the first DNS SAN (an IP SAN if it is an IP). */
  name: string;
  /** Hostnames and IP literals (v4 or v6, brackets allowed) the holder is dialled by. */
  addresses?: readonly string[];
  /** Validity in days from now. @default 3650 */
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
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
// GeneralizedTime has four year digits, so nothing can expire after 9999-12-31T23:59:59Z.
const LAST_TIME_MS = Date.UTC(10000, 0, 1);
const OID = {
  commonName: "2.5.4.3",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

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

function pemBody(label: string, bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

/**
 * Creates a self-signed certificate for `spec`: ECDSA P-256, `CA:FALSE` and `digitalSignature`
 * (both critical), extended key usage serverAuth + clientAuth, a random positive 128-bit serial,
 * CN = `name`, and SANs listing the name and every address (DNS for names, IP for IP literals).
 *
 * @throws {InvalidInputError} when a name or address is neither a host name nor an IP literal,
 *   or `days` is not a positive integer (or reaches past the year 9999)
 */
export async function generateCertificate(spec: CertificateSpec): Promise<KeyPair> {
  const days = spec.days ?? DEFAULT_DAYS;
  // Back-date by a minute so a peer whose clock is slightly behind accepts a fresh certificate.
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + days * DAY_MS);
  if (!Number.isInteger(days) || days < 1 || !(notAfter.getTime() < LAST_TIME_MS)) {
    throw new InvalidInputError(`Generate certificate: days must be a positive integer`, {
      field: "days",
    });
  }
  const { dns, ip } = splitNames(spec);
  const crypto = webcrypto;
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0] & 0x7f) | 0x40; // positive and exactly 16 bytes in DER
  const signatureAlgorithm = der.sequence(der.oid(OID.ecdsaWithSha256));
  const subject = der.sequence(
    der.set(der.sequence(der.oid(OID.commonName), der.directoryString(spec.name))),
  );
  const extension = (id: string, critical: boolean, value: der.Der) =>
    critical
      ? der.sequence(der.oid(id), der.boolean(true), der.octetString(value))
      : der.sequence(der.oid(id), der.octetString(value));
  const tbs = der.sequence(
    der.explicit(0, der.unsignedInteger(Uint8Array.of(2))), // v3
    der.unsignedInteger(serial),
    signatureAlgorithm,
    subject, // issuer: self-signed
    der.sequence(der.time(notBefore), der.time(notAfter)),
    subject,
    new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey)),
    der.explicit(
      3,
      der.sequence(
        extension(OID.basicConstraints, true, der.sequence()), // cA defaults to FALSE
        extension(OID.keyUsage, true, der.bitString(Uint8Array.of(0x80), 7)), // digitalSignature
        extension(
          OID.extKeyUsage,
          false,
          der.sequence(der.oid(OID.serverAuth), der.oid(OID.clientAuth)),
        ),
        extension(
          OID.subjectAltName,
          false,
          der.sequence(
            ...dns.map((name) => der.implicit(2, new TextEncoder().encode(name))),
            ...ip.map((addr) => der.implicit(7, ipBytes(addr))),
          ),
        ),
      ),
    ),
  );
  const p1363 = new Uint8Array(await crypto.subtle.sign(ALGORITHM, keys.privateKey, tbs));
  // WebCrypto returns r || s; X.509 wants ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }.
  const signature = der.sequence(
    der.unsignedInteger(p1363.subarray(0, 32)),
    der.unsignedInteger(p1363.subarray(32)),
  );
  const certDer = der.sequence(tbs, signatureAlgorithm, der.bitString(signature));
  const pem = pemBody("CERTIFICATE", certDer);
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const key = pemBody("PRIVATE KEY", new Uint8Array(pkcs8));
  return { cert: pem, key, fingerprint: fingerprint(pem) };
}

/** The 4 or 16 octets of a canonical IP (see `canonicalIp`), as an iPAddress SAN holds them. */
function ipBytes(ip: string): Uint8Array {
  if (!ip.includes(":")) return Uint8Array.from(ip.split(".").map(Number));
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return Uint8Array.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

/**
 * The lowercase hex SHA-256 of a PEM certificate's DER encoding: the value cohort pins and keeps
 * in trust stores. Equal to node:crypto's `X509Certificate.fingerprint256` without the colons.
 *
 * @throws {InvalidInputError} when `pem` holds no certificate
 */
export function fingerprint(pem: string): string {
  return createHash("sha256").update(parseCertificate(pem).raw).digest("hex");
}

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

function parseCertificate(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new InvalidInputError(`Parse certificate: not a PEM X.509 certificate`, { cause: err });
  }
}

/** Why an existing pair must be replaced, or `undefined` when it still serves `spec`. */
function staleReason(pair: KeyPair, spec: CertificateSpec): string | undefined {
  const cert = parseCertificate(pair.cert);
  if (!cert.checkPrivateKey(createPrivateKey(pair.key))) return "key does not match certificate";
  if (Date.parse(cert.validTo) <= Date.now()) return "certificate expired";
  const want = splitNames(spec);
  const have = certificateNames(pair.cert);
  const missing = [...want.dns.filter((n) => !have.dns.includes(n))]
    .concat(want.ip.filter((n) => !have.ip.includes(n)));
  return missing.length > 0 ? `names not covered: ${missing.join(", ")}` : undefined;
}

async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    await writeFile(tmp, data, { mode, flag: "wx" });
    await chmod(tmp, mode); // the umask may have narrowed or (never) widened the mode
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Loads `<dir>/<basename>.crt` and `<dir>/<basename>.key`, or creates them when either is
 * missing, the key does not match, the certificate expired or its SANs do not cover `spec`.
 * Files are replaced atomically (temporary file + rename), key first, the key with mode 0600;
 * `dir` is created with mode 0700 when missing.
 *
 * @throws {InvalidInputError} when a file exists but holds no valid certificate or key
 */
export async function loadOrCreateKeyPair(
  dir: string,
  basename: "server" | "cluster",
  spec: CertificateSpec,
  logger: Logger = silentLogger,
): Promise<KeyPair> {
  const certPath = join(dir, `${basename}.crt`);
  const keyPath = join(dir, `${basename}.key`);
  const [cert, key] = await Promise.all([readOptional(certPath), readOptional(keyPath)]);
  let reason = "missing";
  if (cert !== undefined && key !== undefined) {
    const pair = { cert, key, fingerprint: fingerprint(cert) };
    try {
      const stale = staleReason(pair, spec);
      if (stale === undefined) {
        await chmod(keyPath, 0o600);
        return pair;
      }
      reason = stale;
    } catch (err) {
      if (err instanceof InvalidInputError) throw err;
      throw new InvalidInputError(`Load key pair "${keyPath}": not a valid private key`, {
        cause: err,
      });
    }
  }
  const pair = await generateCertificate(spec);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(keyPath, pair.key, 0o600);
  await writeAtomic(certPath, pair.cert, 0o644);
  // Replacing an existing identity changes the fingerprint peers pin, so make it stand out.
  const log = reason === "missing" ? logger.info : logger.warn;
  log.call(logger, "Generated key pair", { file: certPath, reason, fingerprint: pair.fingerprint });
  return pair;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw err;
  }
}
