/**
 * drizzle-kit configuration of the notes app. Each release has its own schema file and its own
 * migrations folder (release 2's starts as a copy of release 1's): generate with
 * `NOTES_RELEASE=2 npx drizzle-kit generate --name <slug>` and commit the SQL and `meta/`.
 */
import process from "node:process";
import { defineConfig } from "drizzle-kit";

const release = process.env.NOTES_RELEASE ?? "2";

export default defineConfig({
  dialect: "sqlite",
  schema: `./src/schema_v${release}.ts`,
  out: `./migrations/v${release}`,
});
