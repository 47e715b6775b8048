/**
 * A fast, well-mixed non-cryptographic string hash (cyrb53's mixing, both 32-bit lanes kept):
 * for digests that tell equal tables from different ones cheaply, never for security.
 *
 * @module
 */

/** Two 32-bit lanes (unsigned) of the hash of `text`. */
export function hash64(text: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

/** A 53-bit hash of `text` (a safe integer). */
export function hash53(text: string): number {
  const [h1, h2] = hash64(text);
  return 4294967296 * (2097151 & h2) + h1;
}
