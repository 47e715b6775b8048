/**
 * Host-name and IP-literal helpers shared by certificate generation and address formatting.
 *
 * IPs are compared in one canonical form because the same address has many spellings
 * (`::1`, `0:0:0:0:0:0:0:1`, `[::1]`, `::ffff:127.0.0.1`) and certificate parsers print them
 * differently.
 *
 * @module
 */
import { isIP } from "node:net";

/**
 * The canonical spelling of an IP literal, or `undefined` when `text` is not one: dotted quad for
 * IPv4, RFC 5952 (lowercase, longest zero run compressed) for IPv6. Brackets and a zone suffix
 * (`%eth0`) are stripped; an IPv4 tail in IPv6 (`::ffff:1.2.3.4`) is rewritten in hex.
 */
export function canonicalIp(text: string): string | undefined {
  let host = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = host.indexOf("%");
  if (zone >= 0) host = host.slice(0, zone);
  const family = isIP(host);
  if (family === 4) return host.split(".").map((p) => String(Number(p))).join(".");
  if (family !== 6) return undefined;
  return formatIpv6(parseIpv6(host.toLowerCase()));
}

function parseIpv6(host: string): number[] {
  let text = host;
  const quad = text.match(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number);
    text = text.slice(0, quad.index) + ((a << 8) | b).toString(16) + ":" +
      ((c << 8) | d).toString(16);
  }
  const [left, right] = text.includes("::") ? text.split("::") : [text, undefined];
  const head = left ? left.split(":") : [];
  const tail = right ? right.split(":") : [];
  const fill = right === undefined ? [] : Array(8 - head.length - tail.length).fill("0");
  return [...head, ...fill, ...tail].map((g) => parseInt(g, 16));
}

function formatIpv6(groups: number[]): string {
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/**
 * Reports whether `text` can be a DNS subject alternative name: dot-separated labels of letters,
 * digits, `-` and `_` (no leading or trailing `-`), at most 63 characters each and 253 in all,
 * and not an IP literal.
 */
export function isDnsName(text: string): boolean {
  if (text.length === 0 || text.length > 253 || isIP(text) !== 0) return false;
  return text.split(".").every((label) =>
    /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label)
  );
}

/** `host:port`, bracketing IPv6 literals (`[::1]:7000`). */
export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
