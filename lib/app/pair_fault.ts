/**
 * The one set of rules an extension server's key pair must meet to be served, whether it was
 * found in `STATE_DIR/certificates/NAME.crt|key` (`server_pair.ts`) or handed over the API
 * (`PUT /core/1.0/cluster/certificates/{name}`, {@link checkHandedPair}): a PEM certificate and
 * an unencrypted PEM private key, a certificate key TLS clients of both runtimes accept, the key
 * the certificate's, the certificate valid now. Each caller words the fault for where the pair
 * came from ({@link pairFault} gives the fault, not the words around it).
 *
 * @module
 */
import { type KeyObject, X509Certificate } from "node:crypto";
import { InvalidInputError } from "../errors.ts";
import { parsePemPair } from "../net/certificates.ts";

/** A PEM certificate (or chain, the server's own first) and its PEM private key. */
export interface PemPair {
  cert: string;
  key: string;
}

/**
 * What is wrong with a pair: which part (`crt`, the certificate; `key`), what kind of fault,
 * and the fault in words after the part's name ("expired at …"), without advice on what to do.
 */
export interface PairFault {
  part: "crt" | "key";
  kind: "not-pem" | "encrypted" | "unservable" | "mismatch" | "not-yet-valid" | "expired";
  text: string;
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

/** Every certificate of a PEM text, in its order (those that parse). */
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
 * The first fault of `pair`, or `undefined` when it can be served at `now` (ms since the epoch,
 * by the member's wall clock). `crtName` names the certificate in a key's mismatch
 * ("is not the key of certificates/web.crt").
 */
export function pairFault(pair: PemPair, now: number, crtName: string): PairFault | undefined {
  let parsed: ReturnType<typeof parsePemPair>;
  let bad: "crt" | "key" | undefined;
  try {
    parsed = parsePemPair(pair, (file) => {
      bad = file;
      return new Error(`no PEM ${file}`);
    });
  } catch {
    if (bad === "crt") return { part: "crt", kind: "not-pem", text: "is not a PEM certificate" };
    return pair.key.includes("ENCRYPTED")
      ? { part: "key", kind: "encrypted", text: "is encrypted" }
      : { part: "key", kind: "not-pem", text: "is not a PEM private key" };
  }
  const { certificate } = parsed;
  if (!servable(certificate.publicKey)) {
    return {
      part: "crt",
      kind: "unservable",
      text: `holds ${describeKey(certificate.publicKey)}, which TLS clients do not accept: use ` +
        "RSA of 2048 bits or more, EC P-256, P-384 or P-521, or Ed25519",
    };
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
    return { part: "key", kind: "mismatch", text: `is not the key of ${crtName}${why}` };
  }
  const from = Date.parse(certificate.validFrom);
  const to = Date.parse(certificate.validTo);
  if (now < from) {
    return {
      part: "crt",
      kind: "not-yet-valid",
      text: `is not valid before ${new Date(from).toISOString()} by this member's clock`,
    };
  }
  if (now > to) {
    return { part: "crt", kind: "expired", text: `expired at ${new Date(to).toISOString()}` };
  }
  return undefined;
}

/**
 * Checks a pair handed over the API (MicroCluster's `KeyPair`: `cert`, `key`) by the rules of a
 * pair found on disk.
 *
 * @throws {InvalidInputError} naming the field (`cert` or `key`) and its fault
 */
export function checkHandedPair(pair: PemPair, now: number): void {
  const fault = pairFault(pair, now, "cert");
  if (!fault) return;
  const field = fault.part === "crt" ? "cert" : "key";
  const advice = fault.kind === "encrypted" ? ": send the key unencrypted" : "";
  throw new InvalidInputError(`Invalid request body: ${field} ${fault.text}${advice}`, { field });
}
