/**
 * The accepting side of a join: the checks a member runs before it admits a prospective member.
 * Any member can accept a join; each check fails with an error that says exactly what differs.
 *
 * @module
 */
import { compareExtensions, describeComparison } from "../cluster/extensions.ts";
import { compareVersions, describeVersions, type MemberVersion } from "../cluster/compat.ts";
import type { RosterEntry, TokenEntry } from "../cluster/roster.ts";
import { ConflictError, ForbiddenError, IncompatibleError } from "../errors.ts";
import { sameAddress } from "../cluster/address_stored.ts";
import { certificateNames } from "../net/certificates.ts";
import type { JoinRequest } from "./service.ts";

/**
 * Why a token is expired by the clock that reads `now` (ms since the epoch), or `undefined`.
 *
 * A token's `expiresAt` is its issuer's clock, so a member compares it with its own only as
 * one vote: members' wall clocks may disagree (no NTP, a virtual machine restored from a
 * snapshot), and the claim round that confirms a token's single use (`flows/confirm_use.ts`)
 * decides its expiry too. Each member of the round, the admitting member included, refuses a
 * token expired by its own clock, and the token admits only when a majority of the roster
 * granted it: a minority of members whose clocks are off, ahead or behind by any amount, neither
 * vetoes a token the others hold valid nor admits one they hold expired. (A cluster of one or
 * two members has no minority: there, every member's clock must say the token is valid.)
 */
export function expiryProblem(entry: TokenEntry, now: number): string | undefined {
  return entry.expiresAt !== null && now >= entry.expiresAt
    ? `Join token expired at ${new Date(entry.expiresAt).toISOString()}`
    : undefined;
}

/** What the accepting member knows when it decides. */
export interface AdmissionContext {
  request: JoinRequest;
  /** The token record found for the request's secret. */
  token: { state: "live"; entry: TokenEntry } | { state: "used" } | { state: "unknown" };
  /** This member's version. */
  local: MemberVersion;
  /** The live roster, by name. */
  roster: ReadonlyMap<string, RosterEntry>;
  /** Last known version of a member (undefined when never heard). */
  versionOf(name: string): MemberVersion | undefined;
}

/**
 * Throws the reason a join must be refused, or returns when the joiner may be admitted. The
 * token's expiry is not checked here: the claim round decides it by a majority of the members'
 * clocks (see {@link expiryProblem}).
 *
 * @throws {ForbiddenError} for token problems (unknown, used, wrong name or SAN).
 * @throws {ConflictError} when the name or address is taken.
 * @throws {IncompatibleError} when versions differ from the cluster's, or the cluster's members
 *   disagree among themselves (an upgrade is in progress).
 */
export function checkAdmission(ctx: AdmissionContext): void {
  const { request, token } = ctx;
  // A revocation leaves the same tombstone as a consumption: the message names both.
  if (token.state === "used") {
    throw new ForbiddenError("Join token was already used or has been revoked");
  }
  if (token.state === "unknown") {
    throw new ForbiddenError("Join token is not valid: it is unknown or was revoked");
  }
  const { entry } = token;
  if (entry.name !== request.name) {
    throw new ForbiddenError(
      `Join token was issued for "${entry.name}", not for "${request.name}"`,
    );
  }
  let names: string[];
  try {
    names = certificateNames(request.certificate).dns;
  } catch {
    throw new ForbiddenError("Joining member certificate is not a valid PEM certificate");
  }
  if (!names.includes(request.name)) {
    throw new ForbiddenError(
      `Joining member certificate SAN does not contain the join token name "${request.name}"`,
    );
  }
  if (ctx.roster.has(request.name)) {
    throw new ConflictError(`A member named "${request.name}" already exists`);
  }
  // Compared in their one spelling: a record written before addresses were canonicalised may
  // hold another spelling of the joiner's address.
  for (const [name, member] of ctx.roster) {
    if (sameAddress(member.address, request.address)) {
      throw new ConflictError(`Address ${request.address} is already used by member "${name}"`);
    }
  }
  const joiner: MemberVersion = {
    schemaInternal: request.schema_internal_version,
    schemaExternal: request.schema_external_version,
    extensions: request.extensions,
  };
  const ext = compareExtensions(joiner.extensions, ctx.local.extensions);
  if (ext.verdict !== "equal") {
    // An order-only difference has no missing or extra names to list: name both sides' entries
    // at the first position where they differ.
    const at = ext.firstDifference;
    const why = ext.missing.length || ext.extra.length
      ? describeComparison(ext, ctx.local.extensions).replace("the other", "the cluster")
      : `has the same extensions in a different order (first difference at position ${at}: ` +
        `the joiner has "${joiner.extensions[at]}", the cluster "${ctx.local.extensions[at]}")`;
    throw new IncompatibleError(
      `Join refused: API extensions differ from the cluster's: the joiner ${why}`,
    );
  }
  const schema = compareVersions(joiner, ctx.local);
  if (schema.verdict !== "equal") {
    throw new IncompatibleError(
      `Join refused: schema versions differ from the cluster's: ${
        describeVersions(joiner, ctx.local, schema).replaceAll(" vs ", ", cluster ")
      }`,
    );
  }
  const differing: string[] = [];
  for (const name of ctx.roster.keys()) {
    const version = ctx.versionOf(name);
    if (!version) continue;
    const c = compareVersions(ctx.local, version);
    if (c.verdict !== "equal") {
      differing.push(`"${name}" (${describeVersions(ctx.local, version, c)})`);
    }
  }
  if (differing.length) {
    throw new IncompatibleError(
      `Join refused: an upgrade is in progress, members differ from this member: ${
        differing.join(", ")
      }`,
    );
  }
}
