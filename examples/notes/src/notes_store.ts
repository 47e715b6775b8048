/**
 * Each member's own notes, in the member's own store (cohort's libSQL database, never
 * replicated): a typed Drizzle database over the release's schema, built on the member's client
 * with `member.database(...)`, and one parameterised statement through `member.sql(...)`.
 *
 * @module
 */
import type { AppStore } from "cohort";
import { desc } from "drizzle-orm";
import { drizzle } from "drizzle-orm/libsql";
import * as v1 from "./schema_v1.ts";
import * as v2 from "./schema_v2.ts";

/** A note as the API shows it (`tags` from release 2 on). */
export interface Note {
  id: number;
  text: string;
  /** RFC 3339. */
  created_at: string;
  tags?: string[];
}

/** The notes of one member. */
export interface NotesStore {
  /** Adds a note (tags only with release 2); resolves with it. */
  add(text: string, tags: string[]): Promise<Note>;
  /** The newest `limit` notes, newest first. */
  list(limit: number): Promise<Note[]>;
  /** How many notes this member holds. */
  count(): Promise<number>;
  /** Release 2: the notes carrying `tag`, newest first (release 1 has none). */
  tagged(tag: string, limit: number): Promise<Note[]>;
}

/** The notes store of `member` for release `release`. */
export function notesStore(member: AppStore, release: 1 | 2): NotesStore {
  const count = async () => {
    const { rows } = await member.sql("SELECT count(*) AS n FROM notes");
    return Number(rows[0]?.n ?? 0);
  };
  if (release === 1) {
    const db = member.database((client) => drizzle(client, { schema: v1 }));
    const show = (n: typeof v1.notes.$inferSelect): Note => ({
      id: n.id,
      text: n.text,
      created_at: new Date(n.createdAt).toISOString(),
    });
    return {
      async add(text) {
        const [row] = await db.insert(v1.notes).values({ text, createdAt: Date.now() }).returning();
        return show(row!);
      },
      async list(limit) {
        return (await db.select().from(v1.notes).orderBy(desc(v1.notes.id)).limit(limit)).map(show);
      },
      count,
      tagged: () => Promise.resolve([]),
    };
  }
  const db = member.database((client) => drizzle(client, { schema: v2 }));
  const show = (n: typeof v2.notes.$inferSelect): Note => ({
    id: n.id,
    text: n.text,
    created_at: new Date(n.createdAt).toISOString(),
    tags: JSON.parse(n.tags) as string[],
  });
  return {
    async add(text, tags) {
      const [row] = await db.insert(v2.notes)
        .values({ text, createdAt: Date.now(), tags: JSON.stringify(tags) })
        .returning();
      return show(row!);
    },
    async list(limit) {
      return (await db.select().from(v2.notes).orderBy(desc(v2.notes.id)).limit(limit)).map(show);
    },
    count,
    async tagged(tag, limit) {
      // Parameterised SQL, values bound by the driver: never quoted by hand.
      const { rows } = await member.sql(
        "SELECT n.id, n.text, n.created_at AS createdAt, n.tags FROM notes n " +
          "WHERE EXISTS (SELECT 1 FROM json_each(n.tags) t WHERE t.value = :tag) " +
          "ORDER BY n.id DESC LIMIT :limit",
        { tag, limit },
      );
      return rows.map((r) => show(r as typeof v2.notes.$inferSelect));
    },
  };
}
