/**
 * The notes app's tables, release 2: release 1's, plus the tags of a note (a JSON array of
 * strings). drizzle-kit generated `migrations/v2/0001_note_tags.sql` from the difference.
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
  /** The note's tags, a JSON array of strings (`[]` for notes written by release 1). */
  tags: text("tags").notNull().default("[]"),
});
