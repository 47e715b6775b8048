/**
 * Addresses that earlier releases stored, read in their one spelling. Before `parseAddress()`
 * (`address.ts`), a member's address was kept as the operator typed it: `127.0.0.1:09101`,
 * `LOCALHOST:9101`, `[0:0:0:0:0:0:0:1]:9101`, `[::ffff:127.0.0.1]:9101`, `127.000.000.001:9101`
 * sit in `daemon.json`, in the store's member rows, in the signed roster records every member
 * holds, and in the gossip metadata of members not yet upgraded. New input stays strict (the CLI
 * and the REST routes refuse those spellings); what the cluster already holds is read here, as
 * the member that typed it listened on it and as the others dialled it (the system's resolver),
 * so that tokens carry addresses a joiner takes and two spellings of one socket compare equal.
 *
 * @module
 */
import { isIP } from "node:net";
import { memberNameProblem, parseAddress, type ParsedAddress } from "./address.ts";

/**
 * The dotted-decimal IPv4 address a host the resolver reads as a number stands for, as the
 * C library's `inet_aton` reads it (glibc's `getaddrinfo`, which Node and Deno ask): one to four
 * parts, each decimal, octal with a leading `0` or hex with `0x`, the last filling the bytes
 * left (`127.1` is 127.0.0.1, `0127.0.0.1` is 87.0.0.1, `2130706433` is 127.0.0.1).
 * `undefined` when it is no such number.
 */
export function numericIpv4(host: string): string | undefined {
  const parts = host.split(".");
  if (parts.length > 4) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0x[0-9a-f]+$/i.test(part)) value = parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) value = part.length > 1 ? parseInt(part.slice(1), 8) : 0;
    else if (/^[1-9][0-9]*$/.test(part)) value = Number(part);
    else return undefined;
    values.push(value);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 255) || last >= 2 ** (8 * (4 - values.length))) return undefined;
  const bytes = [...values];
  for (let i = 3 - values.length; i >= 0; i--) bytes.push(Math.floor(last / 2 ** (8 * i)) % 256);
  return bytes.join(".");
}

/** The IPv4 address an IPv4-mapped IPv6 address (canonical, without brackets) names, if it is one. */
export function mappedIpv4(host: string): string | undefined {
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return undefined;
  const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
}

/**
 * Reads an address that cohort itself stored or announced (a member's own `daemon.json`, roster
 * records, member rows, gossip metadata, a token's `join_addresses`), in any spelling an earlier
 * release accepted, as the one spelling {@link parseAddress} gives the socket it names:
 * - a port with leading zeros as its number (`09101` is 9101);
 * - a host the resolver reads as a number as the IPv4 address it reads (see {@link numericIpv4});
 * - an IPv4-mapped IPv6 host as the IPv4 address (the socket it names is the IPv4 one);
 * - IPv6 in RFC 5952 form and host names in lower case, as `parseAddress` does.
 *
 * `undefined` when no earlier release took it either (or a zone index, which has no one
 * spelling): the caller keeps it as written.
 */
export function parseStoredAddress(address: string): ParsedAddress | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:[\]]+):(\d+)$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  let host = m[1];
  if (address.startsWith("[")) {
    const v6 = parseAddress(`[${host}]:${port}`);
    if ("problem" in v6) return undefined;
    host = mappedIpv4(v6.host) ?? v6.address.slice(0, v6.address.lastIndexOf(":"));
  } else if (!isIP(host)) {
    host = numericIpv4(host) ??
      (memberNameProblem(host) === undefined ? host.toLowerCase() : "");
  }
  const parsed = parseAddress(`${host}:${port}`);
  return "problem" in parsed ? undefined : parsed;
}

/**
 * `address` (one cohort stored or announced) in its one spelling ({@link parseStoredAddress}),
 * or as written when it has none.
 */
export function storedAddress(address: string): string {
  return parseStoredAddress(address)?.address ?? address;
}

/**
 * Whether `a` and `b` are one address: spelled alike once each is read in its one spelling
 * ({@link storedAddress}: one of them may be a spelling an earlier release stored, such as
 * `127.0.0.1:09101` for `127.0.0.1:9101`); one that has none is compared as written.
 */
export function sameAddress(a: string, b: string): boolean {
  return storedAddress(a) === storedAddress(b);
}
