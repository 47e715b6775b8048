/**
 * Member names and addresses: the rules every entry point (REST body, CLI argument, join
 * request) applies, so one bad value gets the same message wherever it comes from.
 *
 * @module
 */
import { isIP } from "node:net";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/**
 * Returns why `name` is not a valid member name, or `undefined` when it is.
 *
 * A member name is a DNS name (MicroCluster requires an FQDN-valid name): dot-separated labels
 * of 1–63 letters, digits and inner hyphens, at most 253 characters in all.
 */
export function memberNameProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > 253) return "must be at most 253 characters";
  for (const label of name.split(".")) {
    if (!LABEL.test(label)) {
      return "must be a DNS name: dot-separated labels of letters, digits and inner hyphens, each 1 to 63 characters";
    }
  }
  return undefined;
}

/** A parsed `host:port` address. IPv6 hosts are written in brackets: `[::1]:9000`. */
export interface HostPort {
  host: string;
  port: number;
}

/** An address in its one spelling ({@link parseAddress}), with its parts. */
export interface ParsedAddress extends HostPort {
  /** `host:port` as cohort stores, compares and shows it. */
  address: string;
}

const SHAPE = 'must be "host:port" (IPv6 in brackets, e.g. "[::1]:9000")';
const PORT = "port must be a whole number from 1 to 65535, without a sign or leading zeros";
/** A host that a resolver would read as a number: its last label is digits or `0x` hex. */
const NUMERIC_HOST = /(^|\.)(\d+|0x[0-9a-f]*)\.?$/i;

/**
 * Parses `address` into its one spelling, or says which rule it breaks. One address has one
 * spelling, so that two members can never hold one address under two (and be told apart or
 * taken for one another by a string comparison):
 * - IPv6 in brackets, written as RFC 5952 says (lower-case hex, the longest run of zero groups
 *   shortened to `::`): `[0:0:0:0:0:0:0:1]:9000` and `[0::1]:9000` are `[::1]:9000`;
 * - refused: a zone index (`[fe80::1%eth0]`: no other member can dial this member's link by
 *   it), anything but IPv6 in brackets (an IPv4-mapped IPv6 address is one, but not a member's:
 *   see {@link advertisedAddressProblem});
 * - IPv4 as four decimal numbers 0–255 without leading zeros; refused: any other host that a
 *   resolver reads as a number (`127.000.000.001`, `0127.0.0.1` (octal: 87.0.0.1), `127.1`,
 *   `2130706433`, `0x7f.0.0.1`), since resolvers disagree on what it means;
 * - a DNS name, in lower case (`LOCALHOST:9000` is `localhost:9000`);
 * - the port a decimal number from 1 to 65535 without a sign or leading zeros.
 */
export function parseAddress(address: string): ParsedAddress | { problem: string } {
  const m = /^\[([^\]]*)\]:([^:]*)$/.exec(address) ?? /^([^:[\]]+):([^:]*)$/.exec(address);
  if (!m) return { problem: SHAPE };
  const [, rawHost, rawPort] = m;
  if (!/^[1-9][0-9]{0,4}$/.test(rawPort) || Number(rawPort) > 65535) return { problem: PORT };
  const port = Number(rawPort);
  const bracketed = address.startsWith("[");
  let host: string;
  if (bracketed) {
    const zone = rawHost.indexOf("%");
    if (zone >= 0) {
      return {
        problem: `host must not have a zone index (${rawHost.slice(zone)}): other members ` +
          "cannot dial an address of this machine's link; give one without it",
      };
    }
    if (isIP(rawHost) !== 6) return { problem: "host in brackets must be an IPv6 address" };
    try {
      host = new URL(`http://[${rawHost}]/`).hostname.slice(1, -1);
    } catch {
      return { problem: "host in brackets must be an IPv6 address" };
    }
  } else if (isIP(rawHost) === 4) {
    host = rawHost;
  } else if (NUMERIC_HOST.test(rawHost)) {
    return {
      problem: `host "${rawHost}" must be an IPv4 address as four numbers 0 to 255 without ` +
        "leading zeros (resolvers read other forms, such as 127.1 or 0127.0.0.1, as other " +
        "addresses)",
    };
  } else if (memberNameProblem(rawHost) === undefined) {
    host = rawHost.toLowerCase();
  } else return { problem: "host must be an IP address or a DNS name" };
  return { address: bracketed ? `[${host}]:${port}` : `${host}:${port}`, host, port };
}

/** `address` in its one spelling ({@link parseAddress}), or `undefined` when it is not one. */
export function canonicalAddress(address: string): string | undefined {
  const parsed = parseAddress(address);
  return "problem" in parsed ? undefined : parsed.address;
}

/**
 * Returns why `address` is not a valid `host:port`, or `undefined` when it is: the rules of
 * {@link parseAddress} (an address is valid in any spelling that has one canonical form).
 */
export function addressProblem(address: string): string | undefined {
  const parsed = parseAddress(address);
  return "problem" in parsed ? parsed.problem : undefined;
}

/** Splits `host:port` (or `[v6]:port`) without validating; `undefined` when the shape is wrong. */
export function splitHostPort(address: string): HostPort | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:[\]]+):(\d+)$/.exec(address);
  if (!m) return undefined;
  return { host: m[1], port: Number(m[2]) };
}

/** Why an IPv4 address cannot be dialled by other machines, if it cannot. */
function ipv4Problem(octets: number[]): string | undefined {
  const [a] = octets;
  if (a === 0) return "is unspecified (0.0.0.0/8): give the address other members dial";
  if (a >= 224 && a <= 239) return "is a multicast address: give the address other members dial";
  if (a >= 240) return "is a reserved or broadcast address: give the address other members dial";
  return undefined;
}

/**
 * Why an IPv6 address (canonical, without brackets) cannot be a member's, if it cannot. An
 * IPv4-mapped one is the IPv4 address to every dialler: a second spelling of it.
 */
function ipv6Problem(host: string, port: number): string | undefined {
  if (host === "::") return "is unspecified (::): give the address other members dial";
  if (host.startsWith("ff")) return "is a multicast address: give the address other members dial";
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped) {
    const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
    const v4 = [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
    return `is an IPv4-mapped IPv6 address: give the IPv4 address, ${v4}:${port}`;
  }
  return undefined;
}

/**
 * Returns why `address` cannot be a member's advertised address, or `undefined` when it can:
 * {@link parseAddress}'s rules, and the host must be one other members can dial: not an
 * unspecified address (`0.0.0.0`, `::`), a multicast, broadcast or reserved one, nor an
 * IPv4-mapped IPv6 address (`[::ffff:127.0.0.1]`: the IPv4 address spelled otherwise). A member binds
 * its HTTPS listener to this address and every other member dials it.
 */
export function advertisedAddressProblem(address: string): string | undefined {
  const parsed = parseAddress(address);
  if ("problem" in parsed) return parsed.problem;
  const family = isIP(parsed.host);
  const why = family === 4
    ? ipv4Problem(parsed.host.split(".").map(Number))
    : family === 6
    ? ipv6Problem(parsed.host, parsed.port)
    : undefined;
  return why ? `host ${why}` : undefined;
}
