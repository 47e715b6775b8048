/**
 * Typed repository over `core_token_records`, the outstanding join tokens.
 *
 * Only a SHA-256 hex hash of a token's secret is ever stored or passed here (see
 * {@link hashTokenSecret}); a joiner's secret is hashed and then consumed with
 * {@link consumeToken}. Times are ms since the epoch; a token is valid while `now < expiresAt`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { and, asc, eq, gt, isNotNull, isNull, lte, or } from "drizzle-orm";
import { InvalidInputError } from "../errors.ts";
import { toStoreError } from "./errors.ts";
import type { HasDb } from "./types.ts";
import { coreTokenRecords, type TokenRecord } from "./schema.ts";

/** A stored join token (its secret is not recoverable). */
export interface Token {
  id: number;
  /** Name of the member the token was issued for. */
  name: string;
  /** SHA-256 of the secret, 64 lowercase hex digits. */
  secretHash: string;
  /** ms since the epoch from which the token is refused; `null` = never expires. */
  expiresAt: number | null;
}

/** What {@link insertToken} needs. */
export interface NewToken {
  name: string;
  /** SHA-256 hex of the secret, from {@link hashTokenSecret}. */
  secretHash: string;
  /** ms since the epoch; `null` or omitted = never expires. */
  expiresAt?: number | null;
}

const t = coreTokenRecords;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The hash stored for a token secret: SHA-256 of its UTF-8 bytes, lowercase hex. */
export function hashTokenSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

function checkHash(secretHash: string): void {
  // Refusing anything but a digest keeps a raw secret from being stored (or echoed) by mistake.
  if (typeof secretHash !== "string" || !SHA256_HEX.test(secretHash)) {
    throw new InvalidInputError("Invalid secretHash: expected 64 lowercase hex digits", {
      field: "secretHash",
    });
  }
}

function toToken(row: TokenRecord): Token {
  return { id: row.id, name: row.name, secretHash: row.secretHash, expiresAt: row.expiryDate };
}

function unexpired(now: number) {
  return or(isNull(t.expiryDate), gt(t.expiryDate, now));
}

async function guard<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStoreError(err, action);
  }
}

/**
 * Stores a new token.
 *
 * @throws {InvalidInputError} when `secretHash` is not a SHA-256 hex digest.
 * @throws {ConflictError} when a token with that name (or hash) already exists.
 */
export function insertToken(store: HasDb, token: NewToken): Promise<Token> {
  return guard(`Insert token "${token.name}"`, async () => {
    checkHash(token.secretHash);
    const [row] = await store.db.insert(t).values({
      name: token.name,
      secretHash: token.secretHash,
      expiryDate: token.expiresAt ?? null,
    }).returning();
    return toToken(row);
  });
}

/** Tokens still valid at `now` (ms since the epoch), ordered by name. */
export function listTokens(store: HasDb, now: number): Promise<Token[]> {
  return guard("List tokens", async () => {
    const rows = await store.db.select().from(t).where(unexpired(now)).orderBy(asc(t.name));
    return rows.map(toToken);
  });
}

/**
 * Redeems a token: deletes it and returns it only if it exists and is valid at `now`. One
 * `DELETE … RETURNING` statement, so of two concurrent consumers exactly one gets the record.
 * An expired token is left for {@link purgeExpired}.
 *
 * @returns the token, or `undefined` when no valid token has that hash.
 */
export function consumeToken(
  store: HasDb,
  secretHash: string,
  now: number,
): Promise<Token | undefined> {
  return guard("Consume token", async () => {
    checkHash(secretHash);
    const [row] = await store.db.delete(t)
      .where(and(eq(t.secretHash, secretHash), unexpired(now)))
      .returning();
    return row ? toToken(row) : undefined;
  });
}

/** Deletes the token issued for `name`; reports whether one existed. */
export function revokeToken(store: HasDb, name: string): Promise<boolean> {
  return guard(`Revoke token "${name}"`, async () => {
    const rows = await store.db.delete(t).where(eq(t.name, name)).returning({ id: t.id });
    return rows.length > 0;
  });
}

/** Deletes every token expired at `now`; returns how many. */
export function purgeExpired(store: HasDb, now: number): Promise<number> {
  return guard("Purge expired tokens", async () => {
    const rows = await store.db.delete(t)
      .where(and(isNotNull(t.expiryDate), lte(t.expiryDate, now)))
      .returning({ id: t.id });
    return rows.length;
  });
}
