/**
 * How a gossip connection comes to carry frames both ways (see `ws_transport.ts`, "Shared
 * connections"). Every member's listener presents the cluster's certificate, so TLS tells the
 * dialler only that it reached some member; the listener tells the dialler which one in its
 * upgrade answer, with a signature by its own member key over the dialler's nonce and the
 * fingerprint of the client certificate the dialler authenticated with. The nonce makes the
 * proof good for this connection alone, and the fingerprint makes it useless to a member that
 * passes another's dial on as its own (its own certificate would be the one signed).
 *
 * The exchange, in headers only, so members without it ignore it:
 * 1. the dialler sends {@link SHARE_HEADER} (a fresh nonce);
 * 2. the listener answers {@link SHARE_CERT_HEADER} and {@link SHARE_PROOF_HEADER};
 * 3. the dialler checks both and that the certificate is trusted, then sends a WebSocket ping
 *    with {@link SHARE_CONFIRM} before its first frame: from then on the listener may send on
 *    the connection, and the dialler hands what it receives there to the engine as from the
 *    certificate proven.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  createHash,
  createPrivateKey,
  randomBytes,
  sign,
  verify,
  X509Certificate,
} from "node:crypto";

/** Request header: the dialler's nonce (22 base64url characters, 16 random bytes). */
export const SHARE_HEADER = "x-cohort-share";
/** Response header: the listener's member certificate, base64 DER. */
export const SHARE_CERT_HEADER = "x-cohort-share-cert";
/** Response header: the listener's signature (ECDSA or RSA with SHA-256, base64). */
export const SHARE_PROOF_HEADER = "x-cohort-share-proof";
/** Payload of the dialler's ping that accepts the proof (and so the sharing). */
export const SHARE_CONFIRM = "cohort-share/1";

const NONCE_RE = /^[A-Za-z0-9_-]{22}$/;
/** A certificate header longer than this is not looked at (a P-256 one is under 1 KB). */
const MAX_CERT_CHARS = 8192;
const MAX_PROOF_CHARS = 1024;

/** A fresh nonce for {@link SHARE_HEADER}. */
export function shareNonce(): string {
  return randomBytes(16).toString("base64url");
}

/** Whether `value` is a nonce as {@link shareNonce} makes them. */
export function isShareNonce(value: unknown): value is string {
  return typeof value === "string" && NONCE_RE.test(value);
}

function statement(nonce: string, diallerFingerprint: string): Buffer {
  return Buffer.from(`cohort-gossip-share/1\n${nonce}\n${diallerFingerprint}`);
}

/**
 * The listener's side: given its member certificate and key (PEM), returns a function that
 * makes the answer headers (`[name, value]` lines) for a dialler's nonce and fingerprint.
 */
export function shareProver(
  cert: string,
  key: string,
): (nonce: string, diallerFingerprint: string) => string[] {
  const der = new X509Certificate(cert).raw.toString("base64");
  const privateKey = createPrivateKey(key);
  return (nonce, diallerFingerprint) => [
    `${SHARE_CERT_HEADER}: ${der}`,
    `${SHARE_PROOF_HEADER}: ${
      sign("sha256", statement(nonce, diallerFingerprint), privateKey).toString("base64")
    }`,
  ];
}

/**
 * The dialler's side: the fingerprint (lowercase hex SHA-256 of the DER) of the certificate the
 * listener proved it holds the key of, or `undefined` when the answer has no proof, or one that
 * does not verify. Whether that certificate is trusted is the caller's question.
 */
export function provenFingerprint(
  nonce: string,
  ownFingerprint: string,
  certHeader: unknown,
  proofHeader: unknown,
): string | undefined {
  if (typeof certHeader !== "string" || typeof proofHeader !== "string") return undefined;
  if (certHeader.length > MAX_CERT_CHARS || proofHeader.length > MAX_PROOF_CHARS) return undefined;
  try {
    const der = Buffer.from(certHeader, "base64");
    const cert = new X509Certificate(der);
    const ok = verify(
      "sha256",
      statement(nonce, ownFingerprint),
      cert.publicKey,
      Buffer.from(proofHeader, "base64"),
    );
    return ok ? createHash("sha256").update(cert.raw).digest("hex") : undefined;
  } catch {
    return undefined; // not a certificate, or a key type the signature does not fit
  }
}
