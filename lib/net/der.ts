/**
 * The few DER (ASN.1 Distinguished Encoding Rules) encoders a self-signed X.509 certificate needs.
 *
 * cohort issues one fixed certificate profile, so writing its DER directly costs about a hundred
 * lines, where a general X.509 library (with its ASN.1 schema engine and dependency-injection
 * container) kept ~14 MB resident in every member that had ever generated a certificate.
 * Encoding only: parsing stays with node:crypto's `X509Certificate`.
 *
 * @module
 */

/** Bytes of a DER encoding, or of the content of one. */
export type Der = Uint8Array;

function concat(parts: readonly Der[]): Der {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** A tag-length-value element: `tag` is the whole identifier octet (class, constructed, number). */
export function tlv(tag: number, ...content: readonly Der[]): Der {
  const body = concat(content);
  return concat([Uint8Array.of(tag, ...lengthBytes(body.length)), body]);
}

/** SEQUENCE of the given elements. */
export function sequence(...items: readonly Der[]): Der {
  return tlv(0x30, ...items);
}

/** SET of the given elements (callers pass one element, so no DER sorting is needed). */
export function set(...items: readonly Der[]): Der {
  return tlv(0x31, ...items);
}

/** Explicit context-specific tag `[n]` around the given elements. */
export function explicit(n: number, ...items: readonly Der[]): Der {
  return tlv(0xa0 | n, ...items);
}

/** Implicit context-specific primitive tag `[n]` with raw `content` (e.g. a GeneralName). */
export function implicit(n: number, content: Der): Der {
  return tlv(0x80 | n, content);
}

/** INTEGER from the big-endian magnitude of a non-negative number, minimally encoded. */
export function unsignedInteger(magnitude: Der): Der {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const bytes = magnitude.subarray(start);
  // A set top bit would read as negative, so a zero octet goes first.
  return bytes.length > 0 && bytes[0] & 0x80
    ? tlv(0x02, Uint8Array.of(0), bytes)
    : tlv(0x02, bytes.length > 0 ? bytes : Uint8Array.of(0));
}

/** BOOLEAN (DER spells true as 0xff). */
export function boolean(value: boolean): Der {
  return tlv(0x01, Uint8Array.of(value ? 0xff : 0));
}

/** OBJECT IDENTIFIER from its dotted form, e.g. `"2.5.29.19"`. */
export function oid(dotted: string): Der {
  const arcs = dotted.split(".").map(Number);
  const out: number[] = [];
  for (const arc of [arcs[0] * 40 + arcs[1], ...arcs.slice(2)]) {
    const chunk = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) {
      chunk.unshift(0x80 | (n & 0x7f));
    }
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** OCTET STRING. */
export function octetString(content: Der): Der {
  return tlv(0x04, content);
}

/** BIT STRING of whole octets; `unused` counts the trailing bits of the last octet not used. */
export function bitString(content: Der, unused = 0): Der {
  return tlv(0x03, Uint8Array.of(unused), content);
}

/** PrintableString when `text` fits its alphabet, else UTF8String (what X.509 names use). */
export function directoryString(text: string): Der {
  const bytes = new TextEncoder().encode(text);
  return tlv(/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text) ? 0x13 : 0x0c, bytes);
}

/**
 * An X.509 `Time` to the second: UTCTime for years 1950–2049, GeneralizedTime otherwise, as RFC
 * 5280 §4.1.2.5 requires.
 */
export function time(date: Date): Der {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ, always UTC
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "") + "Z";
  const year = date.getUTCFullYear();
  const utc = year >= 1950 && year < 2050;
  return tlv(utc ? 0x17 : 0x18, new TextEncoder().encode(utc ? digits.slice(2) : digits));
}
