/**
 * The two releases of the notes app. A real app ships one release per build; this example keeps
 * both side by side (entry points `src/v1.ts` and `src/v2.ts`) so a cluster can be rolled from
 * one to the other member by member.
 *
 * Release 2 adds one API extension (`notes_tags`) and one migration (`0001_note_tags`): API
 * extensions are append-only, oldest first, and a release's migrations folder holds every
 * migration of the releases before it.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** What differs between releases. */
export interface Release {
  /** The release number. */
  number: 1 | 2;
  /** The app version every member announces (`GET /core/1.0`, `cluster list`). */
  appVersion: string;
  /** The app's API extensions, oldest first. */
  extensions: readonly string[];
  /** The release's drizzle-kit migrations folder. */
  migrations: string;
}

/** `migrations/vN` beside `src/` (and beside `dist/` once compiled). */
function migrationsOf(n: number): string {
  return fileURLToPath(new URL(`../migrations/v${n}`, import.meta.url));
}

/** Release 1: notes kept per member, and a board shared by the whole cluster. */
export const RELEASE_1: Release = {
  number: 1,
  appVersion: "1.0.0",
  extensions: ["notes", "notes_board"],
  migrations: migrationsOf(1),
};

/** Release 2: release 1 plus tags on notes and board entries (`notes_tags`). */
export const RELEASE_2: Release = {
  number: 2,
  appVersion: "2.0.0",
  extensions: [...RELEASE_1.extensions, "notes_tags"],
  migrations: migrationsOf(2),
};

/** The API extension that gates tags: every member must run release 2 before tags are used. */
export const TAGS_EXTENSION = "notes_tags";
