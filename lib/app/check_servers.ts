/**
 * The check of the app's extension servers when `createMember` is called, before the state
 * directory is touched (see `servers.ts`).
 *
 * @module
 */
import { addressProblem, canonicalAddress } from "../cluster/address.ts";
import { InvalidInputError } from "../errors.ts";
import { checkEndpoints } from "./endpoints.ts";
import type { AppServer } from "./servers.ts";

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Checks the app's servers (names, endpoints, addresses; no two at one address, in whatever
 * spellings the app gives it).
 *
 * @throws {InvalidInputError} naming the server and the rule it breaks
 */
export function checkServers(servers: Readonly<Record<string, AppServer>>): void {
  const holders = new Map<string, string>();
  for (const [name, s] of Object.entries(servers)) {
    const field = `servers.${name}`;
    if (!NAME.test(name) || name === "core" || name === "unix") {
      throw new InvalidInputError(
        `${field}: a server name is a DNS label (lowercase letters, digits, inner hyphens), not "core" or "unix"`,
        { field },
      );
    }
    checkEndpoints(s.endpoints, `${field}.endpoints`);
    if (s.address !== undefined && s.address !== "") {
      const problem = addressProblem(s.address);
      if (problem) {
        throw new InvalidInputError(`${field}.address: ${problem}`, { field: `${field}.address` });
      }
      // Both would be taken, and the second would never listen (a log line only).
      const one = canonicalAddress(s.address)!;
      const holder = holders.get(one);
      if (holder !== undefined) {
        throw new InvalidInputError(
          `${field}.address: ${one} is also the address of server "${holder}"`,
          { field: `${field}.address` },
        );
      }
      holders.set(one, name);
    }
  }
}
