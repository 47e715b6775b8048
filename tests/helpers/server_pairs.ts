/**
 * Key pairs as an operator finds them elsewhere and copies into a state directory: issued by a
 * CA of their own (or an intermediate of it), of any key algorithm node:crypto makes (RSA, ECDSA
 * on any curve, Ed25519), valid in any window of time; and the certificate a server presents.
 */
import { Buffer } from "node:buffer";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { connect } from "node:tls";
import "reflect-metadata"; // @peculiar/x509's tsyringe needs it first
import * as x509 from "@peculiar/x509";

const DAY = 86_400_000;
const SIGNING = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** What a leaf's key is: `ec:<curve>`, `rsa:<bits>` or `ed25519`. */
export type KeySpec = `ec:${string}` | `rsa:${number}` | "ed25519";

/** A PEM certificate (or chain) and a PEM private key, as files hold them. */
export interface PemPair {
  cert: string;
  key: string;
}

/** A new key pair of `spec`, as node:crypto objects. */
export function newKey(spec: KeySpec): { publicKey: KeyObject; privateKey: KeyObject } {
  if (spec === "ed25519") return generateKeyPairSync("ed25519");
  const [kind, param] = spec.split(":");
  if (kind === "rsa") return generateKeyPairSync("rsa", { modulusLength: Number(param) });
  return generateKeyPairSync("ec", { namedCurve: param! });
}

/** `key` as a PKCS#8 PEM file holds it. */
export function pemKey(key: KeyObject): string {
  return key.export({ type: "pkcs8", format: "pem" }) as string;
}

/** A CA of the operator's own: a P-256 key pair and its self-signed certificate. */
export interface Ca {
  cert: x509.X509Certificate;
  keys: Awaited<ReturnType<typeof newKeys>>;
}

const newKeys = () => crypto.subtle.generateKey(SIGNING, true, ["sign", "verify"]);

/** A new {@link Ca}. */
export async function newCa(): Promise<Ca> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=operator CA",
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  }, crypto);
  return { cert, keys };
}

/** An intermediate CA issued by `root`, as a public CA hands out leaves under. */
export async function newIntermediate(root: Ca): Promise<Ca> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=operator intermediate CA",
    issuer: root.cert.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: root.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    ],
  }, crypto);
  return { cert, keys };
}

/**
 * A certificate for `name` (CN and a DNS SAN, plus IP 127.0.0.1) over `publicKey`, issued by
 * `ca`, valid from `from` to `to` (ms since the epoch; default: yesterday to a month ahead).
 */
export async function issue(
  ca: Ca,
  name: string,
  publicKey: KeyObject,
  window: { from?: number; to?: number } = {},
): Promise<string> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex")
      .replace(/^./, "1"),
    subject: `CN=${name}`,
    issuer: ca.cert.subject,
    notBefore: new Date(window.from ?? Date.now() - DAY),
    notAfter: new Date(window.to ?? Date.now() + 30 * DAY),
    signingAlgorithm: SIGNING,
    publicKey: new Uint8Array(publicKey.export({ type: "spki", format: "der" })),
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: name },
        { type: "ip", value: "127.0.0.1" },
      ]),
    ],
  }, crypto);
  return cert.toString("pem") + "\n";
}

/** A pair for `name` of key `spec`, issued by `ca`, valid in `window` (see {@link issue}). */
export async function pairOf(
  ca: Ca,
  name: string,
  spec: KeySpec = "ec:prime256v1",
  window: { from?: number; to?: number } = {},
): Promise<PemPair> {
  const keys = newKey(spec);
  return { cert: await issue(ca, name, keys.publicKey, window), key: pemKey(keys.privateKey) };
}

/** The CA's certificate in PEM, to follow a leaf in a chain file. */
export function caPem(ca: { cert: x509.X509Certificate }): string {
  return ca.cert.toString("pem") + "\n";
}

/**
 * The SHA-256 fingerprint (node:crypto's `fingerprint256`) of the certificate `address`
 * (`host:port`) presents, trusting anything, or `error: CODE` when no handshake completes.
 */
export function presented(address: string): Promise<string> {
  const [host, port] = address.split(":");
  return new Promise((resolve) => {
    const s = connect({ host, port: Number(port), rejectUnauthorized: false }, () => {
      const cert = s.getPeerX509Certificate();
      s.destroy();
      resolve(cert ? cert.fingerprint256 : "no certificate");
    });
    s.on("error", (err: Error & { code?: string }) => resolve(`error: ${err.code ?? err.message}`));
  });
}
