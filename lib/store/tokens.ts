/**
 * Typed repository over `core_token_records`, the outstanding join tokens as MicroCluster keeps
 * them, so `cohort sql` shows them. The authoritative copy is the gossip layer's replicated token
 * records; this table is their projection, rewritten as they change.
 *
 * Only a SHA-256 hex hash of a token's secret is ever stored or passed here. Times are ms since
 * the epoch; a token is valid while `now < expiresAt`.
 *
 * @module
 */
import { asc, gt, isNull, or } from "drizzle-orm";
import { InvalidInputError } from "../errors.ts";
import { toStoreError } from "./errors.ts";
import type { HasDb } from "./types.ts";
import { coreTokenRecords, type TokenRecord } from "./schema.ts";
import { writeAtomically } from "./atomic.ts";
import { rowChunks } from "./row_chunks.ts";

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

/** A token to write. */
export interface NewToken {
  name: string;
  /** SHA-256 hex of the secret (lib/cluster/token.ts `hashSecret`). */
  secretHash: string;
  /** ms since the epoch; `null` or omitted = never expires. */
  expiresAt?: number | null;
}

const t = coreTokenRecords;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Most tokens per insert, a power of two (see `row_chunks.ts`): three columns a row. */
const TOKENS_PER_INSERT = 512;

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

/** Tokens still valid at `now` (ms since the epoch), ordered by name. */
export function listTokens(store: HasDb, now: number): Promise<Token[]> {
  return guard("List tokens", async () => {
    const rows = await store.db.select().from(t).where(unexpired(now)).orderBy(asc(t.name));
    return rows.map(toToken);
  });
}

/**
 * Replaces the table's content with `tokens` in one transaction: the table is a projection of
 * the cluster's replicated token records, rewritten whenever they change.
 *
 * @throws {InvalidInputError} when a `secretHash` is not a SHA-256 hex digest (nothing written).
 * @throws {ConflictError} when two tokens share a name or a hash (nothing written).
 */
export function replaceTokens(store: HasDb, tokens: readonly NewToken[]): Promise<void> {
  return guard("Replace tokens", async () => {
    for (const token of tokens) checkHash(token.secretHash);
    const rows = tokens.map((token) => ({
      name: token.name,
      secretHash: token.secretHash,
      expiryDate: token.expiresAt ?? null,
    }));
    // Chunks of powers of two: a statement text per number of tokens would each be kept.
    await writeAtomically(store.db, [
      store.db.delete(t),
      ...rowChunks(rows, TOKENS_PER_INSERT).map((chunk) => store.db.insert(t).values(chunk)),
    ]);
  });
}
