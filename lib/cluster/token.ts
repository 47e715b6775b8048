/**
 * Join tokens: what `cohort tokens add` prints and `cohort init --token` consumes.
 *
 * A token is base64 (standard, padded) of the JSON `{secret, fingerprint, join_addresses}`, as
 * in MicroCluster: `secret` is 32 random bytes as hex, `fingerprint` the SHA-256 (hex) of the
 * cluster certificate the joiner pins, and `join_addresses` the `host:port` of every live member
 * at issue time. Members store only a hash of the secret.
 *
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import { InvalidInputError } from "../errors.ts";
import { addressProblem } from "./address.ts";
import { parseStoredAddress } from "./address_stored.ts";

/** The decoded content of a join token. */
export interface JoinToken {
  /** 64 lowercase hex digits (32 random bytes). */
  secret: string;
  /** Lowercase hex SHA-256 of the cluster certificate (64 digits). */
  fingerprint: string;
  /** Addresses to try, in order. At least one. */
  join_addresses: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Whether `v` is a lowercase hex SHA-256 digest (64 digits), as secrets and hashes are kept. */
export function isSha256Hex(v: string): boolean {
  return HEX64.test(v);
}

/** Whether `v` names a token claim round: 32 lowercase hex digits (see `token_claims.ts`). */
export function isClaimRound(v: string): boolean {
  return /^[0-9a-f]{32}$/.test(v);
}

/** Makes a new random secret: 32 bytes from the system's CSPRNG, as hex. */
export function newTokenSecret(): string {
  return randomBytes(32).toString("hex");
}

/** The hash stored in place of a secret: lowercase hex SHA-256 of its text. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Compares two hex hashes in constant time. */
export function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Encodes a token for printing. */
export function encodeToken(token: JoinToken): string {
  return Buffer.from(JSON.stringify(token)).toString("base64");
}

/**
 * Decodes and validates a token string; `join_addresses` come in their one spelling (a token
 * issued by a member of an earlier release may carry a spelling it stored, see
 * `address_stored.ts`).
 *
 * @throws {InvalidInputError} naming what is wrong (never echoing the secret).
 */
export function decodeToken(text: string): JoinToken {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) {
    throw new InvalidInputError("Invalid join token: it is not base64", { field: "join_token" });
  }
  let value: Partial<JoinToken>;
  try {
    value = JSON.parse(Buffer.from(trimmed, "base64").toString("utf8"));
  } catch {
    throw new InvalidInputError("Invalid join token: it does not decode to JSON", {
      field: "join_token",
    });
  }
  if (typeof value !== "object" || value === null) {
    throw new InvalidInputError("Invalid join token: it does not decode to an object", {
      field: "join_token",
    });
  }
  if (typeof value.secret !== "string" || !HEX64.test(value.secret)) {
    throw new InvalidInputError("Invalid join token: secret must be 64 hex digits", {
      field: "join_token",
    });
  }
  if (typeof value.fingerprint !== "string" || !HEX64.test(value.fingerprint)) {
    throw new InvalidInputError(
      "Invalid join token: fingerprint must be a SHA-256 hex digest (64 hex digits)",
      { field: "join_token" },
    );
  }
  const addresses = value.join_addresses;
  if (!Array.isArray(addresses) || addresses.length === 0) {
    throw new InvalidInputError(
      "Invalid join token: join_addresses must list at least one address",
      {
        field: "join_token",
      },
    );
  }
  // A member issues its roster's addresses: one not yet upgraded may hold a spelling an earlier
  // release stored (`127.0.0.1:09101`), which a joiner reads in its one spelling rather than
  // refusing the whole token.
  const read = addresses.map((a, i) => {
    const stored = typeof a === "string" ? parseStoredAddress(a) : undefined;
    if (stored) return stored.address;
    const problem = typeof a === "string"
      ? addressProblem(a) ?? "has no one spelling"
      : "must be a string";
    throw new InvalidInputError(`Invalid join token: join_addresses.${i} ${problem}`, {
      field: "join_token",
    });
  });
  return { secret: value.secret, fingerprint: value.fingerprint, join_addresses: read };
}

/**
 * Parses a duration such as `90s`, `30m`, `3h`, `2d`, `1h30m` (Go-style units `ms`, `s`, `m`,
 * `h`, plus `d`) into milliseconds. `0` means "never expires".
 *
 * @throws {InvalidInputError} for anything else.
 */
export function parseDuration(text: string, field = "expire_after"): number {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let matched = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * unit[m[2]];
    matched += m[0].length;
  }
  if (text === "" || matched !== text.length) {
    throw new InvalidInputError(
      `Invalid ${field} "${text}": expected a duration such as 30m, 3h, 1h30m or 2d (0 = never)`,
      { field },
    );
  }
  return Math.round(total);
}
