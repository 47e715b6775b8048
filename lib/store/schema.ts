/**
 * cohort's own tables, after MicroCluster's `core_cluster_members` and `core_token_records`.
 *
 * This file is the single source of truth for the schema: migrations are generated from it with
 * `npx drizzle-kit generate --name <slug>` and committed (never hand-written). Column names stay
 * snake_case in SQL so `cohort sql` output reads like MicroCluster's.
 *
 * @module
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** The roles a member row can hold, as MicroCluster spells them. */
export const MEMBER_ROLES = ["PENDING", "voter", "stand-by", "spare"] as const;

/** A member's role: `PENDING` until its join completes, then one of the dqlite-style roles. */
export type MemberRole = typeof MEMBER_ROLES[number];

/**
 * One row per cluster member (including pending joiners).
 *
 * - `heartbeat`: ms since the epoch of the last heartbeat seen; `0` means never.
 * - `schema_internal` / `schema_external`: the number of cohort and app migrations the member's
 *   code knows (see `Store.versions`).
 * - `api_extensions`: the member's unified extension list as a JSON array of strings.
 * - `app_version`: the embedding app's version string, carried by gossip.
 */
export const coreClusterMembers = sqliteTable("core_cluster_members", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  address: text("address").notNull(),
  certificate: text("certificate").notNull().unique(),
  schemaInternal: integer("schema_internal").notNull().default(0),
  schemaExternal: integer("schema_external").notNull().default(0),
  heartbeat: integer("heartbeat").notNull().default(0),
  role: text("role", { enum: MEMBER_ROLES }).notNull().default("PENDING"),
  apiExtensions: text("api_extensions").notNull().default(sql`'[]'`),
  appVersion: text("app_version").notNull().default(""),
});

/**
 * One row per outstanding join token. Only a SHA-256 hex hash of the token's secret is stored,
 * so a leaked database cannot be replayed as join tokens.
 *
 * - `expiry_date`: ms since the epoch after which the token is refused; `NULL` = never expires.
 */
export const coreTokenRecords = sqliteTable("core_token_records", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  secretHash: text("secret_hash").notNull().unique(),
  expiryDate: integer("expiry_date"),
});

/** A member row as read from the database (extensions still JSON text). */
export type MemberRecord = typeof coreClusterMembers.$inferSelect;
/** A token row as read from the database. */
export type TokenRecord = typeof coreTokenRecords.$inferSelect;

/**
 * The gossip layer's replicated records (join tokens, roster entries and their tombstones), so a
 * restarted member resumes with what the cluster agreed on. One row per (kind, key).
 *
 * - `value`: the record's JSON value; `NULL` for a tombstone.
 * - `version`: the writer's clock in ms (last writer wins); `origin`: the writer's name.
 * - `expires_at`: ms since the epoch after which the record is dropped; `NULL` = never.
 */
export const coreRecords = sqliteTable("core_records", {
  kind: text("kind").notNull(),
  key: text("key").notNull(),
  value: text("value"),
  version: integer("version").notNull(),
  origin: text("origin").notNull(),
  expiresAt: integer("expires_at"),
}, (t) => [primaryKey({ columns: [t.kind, t.key] })]);

/** A replicated record row. */
export type RecordRow = typeof coreRecords.$inferSelect;

/**
 * The certificates this member saw leave a name (`lib/cluster/former_certificates.ts`): its own
 * knowledge, never replicated, so that after a restart it still checks an admission made by a
 * member removed since with the certificate that member held. Bounded as that memory is.
 *
 * - `seq`: the order they were noted in (a name's latest certificate has its highest `seq`).
 * - `certificate` (PEM) and `fingerprint` (hex SHA-256): the certificate that left `name`.
 * - `until`: the version of that removal (ms since the epoch).
 */
export const coreFormerCertificates = sqliteTable("core_former_certificates", {
  seq: integer("seq").primaryKey(),
  name: text("name").notNull(),
  certificate: text("certificate").notNull(),
  fingerprint: text("fingerprint").notNull(),
  until: integer("until").notNull(),
}, (t) => [index("core_former_certificates_name_seq").on(t.name, t.seq)]);
