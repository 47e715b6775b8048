/**
 * The notes app's tables, release 1: each member's own notes. Migrations are generated from this
 * file by drizzle-kit (`npm run db:generate`) into `migrations/v1` and committed.
 *
 * @module
 */
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** A note kept by one member, in that member's own store (never replicated). */
export const notes = sqliteTable("notes", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  text: text("text").notNull(),
  /** When the note was written, ms since the epoch. */
  createdAt: integer("created_at").notNull(),
});
