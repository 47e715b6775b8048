/**
 * Whether an address names a member's socket under another name: `localhost:9001` and
 * `127.0.0.1:9001` are one listener, though no spelling rule makes them one string. Only host
 * names need this (an IP literal has one spelling, see `address.ts`), and only an address with the
 * same port can be the same socket, so a cluster of IP addresses never resolves anything.
 *
 * @module
 */
import { isIP } from "node:net";
import { parseAddress } from "./address.ts";
import { mappedIpv4, parseStoredAddress, sameAddress } from "./address_stored.ts";

/**
 * Resolves a host name to the IP addresses it stands for on this machine (every family), as
 * the members dialling it would; rejects or answers `[]` when it cannot.
 */
export type HostLookup = (host: string) => Promise<readonly string[]>;

/** The IP addresses `host` stands for, in one spelling each (IPv4-mapped ones as IPv4). */
async function ipsOf(host: string, lookup: HostLookup): Promise<Set<string>> {
  let ips: readonly string[];
  try {
    ips = isIP(host) ? [host] : await lookup(host);
  } catch {
    ips = []; // a name that does not resolve here shares no socket that can be told
  }
  const out = new Set<string>();
  for (const ip of ips) {
    const family = isIP(ip);
    if (family === 4) out.add(ip);
    else if (family === 6) {
      const one = parseAddress(`[${ip}]:1`);
      if (!("problem" in one)) out.add(mappedIpv4(one.host) ?? one.host);
    }
  }
  return out;
}

/**
 * The first of `members` (name, address) whose address names the socket `address` names,
 * through a host name on either side (`lookup` resolves them); `undefined` when none does, when
 * neither side of a same-port pair is a host name, or when there is no `lookup`. Addresses that
 * are one already ({@link sameAddress}) are left to the caller's own check.
 */
export async function sharedAddressHolder(
  address: string,
  members: Iterable<readonly [string, { readonly address: string }]>,
  lookup: HostLookup | undefined,
): Promise<{ name: string; address: string } | undefined> {
  const own = parseAddress(address);
  if ("problem" in own || !lookup) return undefined;
  const candidates: { name: string; address: string; host: string }[] = [];
  for (const [name, m] of members) {
    // A member's address may be a spelling an earlier release stored (`LOCALHOST:9001`).
    const other = parseStoredAddress(m.address);
    if (!other || other.port !== own.port || sameAddress(m.address, address)) continue;
    if (isIP(own.host) && isIP(other.host)) continue;
    candidates.push({ name, address: m.address, host: other.host });
  }
  if (candidates.length === 0) return undefined;
  const mine = await ipsOf(own.host, lookup);
  for (const c of candidates) {
    for (const ip of await ipsOf(c.host, lookup)) {
      if (mine.has(ip)) return { name: c.name, address: c.address };
    }
  }
  return undefined;
}
