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

/**
 * Returns why `address` is not a valid `host:port`, or `undefined` when it is. The host is an
 * IPv4 address, a bracketed IPv6 address or a DNS name; the port is 1–65535.
 */
export function addressProblem(address: string): string | undefined {
  const parsed = splitHostPort(address);
  if (!parsed) return 'must be "host:port" (IPv6 in brackets, e.g. "[::1]:9000")';
  if (!Number.isInteger(parsed.port) || parsed.port < 1 || parsed.port > 65535) {
    return "port must be a whole number from 1 to 65535";
  }
  if (!isIP(parsed.host) && memberNameProblem(parsed.host) !== undefined) {
    return "host must be an IP address or a DNS name";
  }
  return undefined;
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

/** Why an IPv6 address (without brackets) cannot be dialled by other machines, if it cannot. */
function ipv6Problem(host: string): string | undefined {
  let canonical: string;
  try {
    canonical = new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return undefined; // a zone index or another form URL does not take: leave it to the dialler
  }
  if (canonical === "::") return "is unspecified (::): give the address other members dial";
  if (canonical.startsWith("ff")) {
    return "is a multicast address: give the address other members dial";
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
    return ipv4Problem([hi >> 8, hi & 255, lo >> 8, lo & 255]);
  }
  return undefined;
}

/**
 * Returns why `address` cannot be a member's advertised address, or `undefined` when it can:
 * {@link addressProblem}'s rules, and the host must be one other members can dial: not an
 * unspecified address (`0.0.0.0`, `::`), a multicast, broadcast or reserved one. A member binds
 * its HTTPS listener to this address and every other member dials it.
 */
export function advertisedAddressProblem(address: string): string | undefined {
  const problem = addressProblem(address);
  if (problem) return problem;
  const { host } = splitHostPort(address)!;
  const family = isIP(host);
  const why = family === 4
    ? ipv4Problem(host.split(".").map(Number))
    : family === 6
    ? ipv6Problem(host)
    : undefined;
  return why ? `host ${why}` : undefined;
}
