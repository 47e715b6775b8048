/**
 * Typed repository over `core_cluster_members`. Extensions are `string[]` here and a JSON array
 * in SQL; every database failure comes out as a safe {@link CohortError} (see `toStoreError`).
 *
 * @module
 */
import { asc, eq, type SQL, sql } from "drizzle-orm";
import { InvalidInputError, NotFoundError } from "../errors.ts";
import { toStoreError } from "./errors.ts";
import type { HasDb } from "./types.ts";
import { coreClusterMembers, type MemberRecord, type MemberRole } from "./schema.ts";
import { writeAtomically } from "./atomic.ts";
import { rowChunks } from "./row_chunks.ts";
import { storedAddress } from "../cluster/address_stored.ts";

/** A cluster member as cohort code sees it. */
export interface Member {
  /** Row id, assigned by the database. */
  id: number;
  name: string;
  /** `host:port` it listens on, in its one spelling (`address_stored.ts`) whatever the row holds. */
  address: string;
  /** The member's server certificate (PEM). */
  certificate: string;
  /** cohort migrations its code knows. */
  schemaInternal: number;
  /** App migrations its code knows. */
  schemaExternal: number;
  /** ms since the epoch of the last heartbeat; 0 = never. */
  heartbeat: number;
  role: MemberRole;
  /** Its unified API extension list, internal names first. */
  extensions: string[];
  /** The embedding app's version string. */
  appVersion: string;
}

/**
 * A member to write: `name`, `address` and `certificate` are required; the rest default to
 * 0 / `"PENDING"` / `[]` / `""` on insert.
 */
export type NewMember = Pick<Member, "name" | "address" | "certificate"> & Partial<MemberPatch>;

/** Fields {@link updateMember} may change (the name is the key and cannot change). */
export type MemberPatch = Omit<Member, "id" | "name">;

const t = coreClusterMembers;
/**
 * Most rows a statement upserts, a power of two (see `row_chunks.ts`): SQLite's default limit is
 * 32766 bound parameters; 10 columns a row keeps well below it.
 */
const UPSERT_CHUNK = 512;

function decodeExtensions(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value;
  } catch {
    // fall through: a hand-edited row (cohort sql) must not take the daemon down
  }
  return [];
}

function toMember(row: MemberRecord): Member {
  return {
    id: row.id,
    name: row.name,
    // Rows an earlier release wrote may hold another spelling (`LOCALHOST:9101`).
    address: storedAddress(row.address),
    certificate: row.certificate,
    schemaInternal: row.schemaInternal,
    schemaExternal: row.schemaExternal,
    heartbeat: row.heartbeat,
    role: row.role,
    extensions: decodeExtensions(row.apiExtensions),
    appVersion: row.appVersion,
  };
}

/** Maps TS field names to columns, leaving out fields that are `undefined`. */
function toColumns(patch: Partial<MemberPatch>): Partial<typeof t.$inferInsert> {
  const out: Partial<typeof t.$inferInsert> = {};
  if (patch.address !== undefined) out.address = patch.address;
  if (patch.certificate !== undefined) out.certificate = patch.certificate;
  if (patch.schemaInternal !== undefined) out.schemaInternal = patch.schemaInternal;
  if (patch.schemaExternal !== undefined) out.schemaExternal = patch.schemaExternal;
  if (patch.heartbeat !== undefined) out.heartbeat = patch.heartbeat;
  if (patch.role !== undefined) out.role = patch.role;
  if (patch.extensions !== undefined) {
    if (!Array.isArray(patch.extensions) || patch.extensions.some((e) => typeof e !== "string")) {
      throw new InvalidInputError("Invalid extensions: expected an array of strings", {
        field: "extensions",
      });
    }
    out.apiExtensions = JSON.stringify(patch.extensions);
  }
  if (patch.appVersion !== undefined) out.appVersion = patch.appVersion;
  return out;
}

function toRow(member: NewMember): typeof t.$inferInsert {
  return { ...toColumns(member), name: member.name } as typeof t.$inferInsert;
}

async function guard<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStoreError(err, action);
  }
}

/** All members, ordered by name. */
export function listMembers(store: HasDb): Promise<Member[]> {
  return guard("List cluster members", async () => {
    const rows = await store.db.select().from(t).orderBy(asc(t.name));
    return rows.map(toMember);
  });
}

/** The member called `name`, or `undefined`. */
export function getMember(store: HasDb, name: string): Promise<Member | undefined> {
  return guard(`Get cluster member "${name}"`, async () => {
    const [row] = await store.db.select().from(t).where(eq(t.name, name)).limit(1);
    return row ? toMember(row) : undefined;
  });
}

/**
 * Inserts a new member and returns it as stored.
 *
 * @throws {ConflictError} when the name or the certificate is already taken.
 */
export function insertMember(store: HasDb, member: NewMember): Promise<Member> {
  return guard(`Insert cluster member "${member.name}"`, async () => {
    const [row] = await store.db.insert(t).values(toRow(member)).returning();
    return toMember(row);
  });
}

/**
 * Changes some fields of the member called `name` and returns it as stored.
 *
 * @throws {NotFoundError} when there is no such member.
 * @throws {ConflictError} when the new certificate belongs to another member.
 */
export function updateMember(
  store: HasDb,
  name: string,
  patch: Partial<MemberPatch>,
): Promise<Member> {
  const action = `Update cluster member "${name}"`;
  return guard(action, async () => {
    const set = toColumns(patch);
    const query = Object.keys(set).length
      ? store.db.update(t).set(set).where(eq(t.name, name)).returning()
      : store.db.select().from(t).where(eq(t.name, name));
    const [row] = await query;
    if (!row) throw new NotFoundError(`${action}: no such member`);
    return toMember(row);
  });
}

/** Deletes the member called `name`; reports whether a row was removed. */
export function deleteMember(store: HasDb, name: string): Promise<boolean> {
  return guard(`Delete cluster member "${name}"`, async () => {
    const rows = await store.db.delete(t).where(eq(t.name, name)).returning({ id: t.id });
    return rows.length > 0;
  });
}

/**
 * Inserts or replaces members by name, all in one transaction (the gossip layer persists its
 * merged view this way). Fields left `undefined` keep their stored value on an existing row and
 * take the column default on a new one. When a name appears twice, the last entry wins. Returns
 * the number of rows written.
 *
 * @throws {ConflictError} when a certificate belongs to another member; nothing is written then.
 */
export function upsertMembers(store: HasDb, members: readonly NewMember[]): Promise<number> {
  return guard(`Upsert ${members.length} cluster members`, async () => {
    if (members.length === 0) return 0;
    // SQLite refuses to upsert the same row twice in one statement: the last entry wins.
    const rows = [...new Map(members.map((m) => [m.name, toRow(m)])).values()];
    // A multi-row INSERT fills missing columns with their DEFAULT, so rows are grouped by the
    // columns they provide and each group's conflict clause updates only those columns.
    const groups = new Map<string, (typeof t.$inferInsert)[]>();
    for (const row of rows) {
      const key = Object.keys(row).sort().join(",");
      groups.set(key, [...groups.get(key) ?? [], row]);
    }
    const queries = [];
    for (const [key, group] of groups) {
      const set: Record<string, SQL> = {};
      for (const field of key.split(",")) {
        if (field === "name") continue;
        const column = t[field as keyof typeof t.$inferInsert];
        set[field] = sql.raw(`excluded."${column.name}"`);
      }
      for (const chunk of rowChunks(group, UPSERT_CHUNK)) {
        queries.push(store.db.insert(t).values(chunk).onConflictDoUpdate({ target: t.name, set }));
      }
    }
    await writeAtomically(store.db, queries);
    return rows.length;
  });
}

/**
 * Rewrites in its one spelling (`address_stored.ts`) every member row's address that an earlier
 * release stored as typed (`127.0.0.1:09101`, `LOCALHOST:9101`), in one transaction; rows in
 * the one spelling are left alone. Reading gives the one spelling either way ({@link Member}):
 * this is for what the store holds (`cohort sql`, a backup). Returns the number of rows
 * rewritten.
 */
export function respellMemberAddresses(store: HasDb): Promise<number> {
  return guard("Rewrite cluster member addresses in their one spelling", async () => {
    const rows = await store.db.select({ name: t.name, address: t.address }).from(t);
    const queries = rows.filter((r) => storedAddress(r.address) !== r.address).map((r) =>
      store.db.update(t).set({ address: storedAddress(r.address) }).where(eq(t.name, r.name))
    );
    await writeAtomically(store.db, queries);
    return queries.length;
  });
}
