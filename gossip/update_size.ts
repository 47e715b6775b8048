/**
 * What an update costs in a frame, in UTF-8 bytes: frames are bounded in bytes, and the
 * dissemination packs updates up to that bound.
 *
 * @module
 */
import type { Update } from "./messages.ts";

const sizeCache = new WeakMap<object, number>();

/**
 * Encoded size (UTF-8 bytes of its JSON) of an update, plus one for the separating comma;
 * memoized. Bytes, not chars: frames are bounded in bytes (`MAX_FRAME_BYTES`), and a
 * record's value or a name may be of characters of up to 3 bytes each.
 */
export function updateSize(u: Update): number {
  let size = sizeCache.get(u);
  if (size === undefined) {
    size = utf8Length(JSON.stringify(u)) + 1;
    sizeCache.set(u, size);
  }
  return size;
}

const NON_ASCII = /[\u0080-\uffff]/;

/** UTF-8 length of `s` (a lone surrogate counts as the 3 bytes of its replacement). */
export function utf8Length(s: string): number {
  if (!NON_ASCII.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
