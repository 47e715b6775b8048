/**
 * drizzle-kit configuration for cohort's own schema. Generate a migration after editing
 * `lib/store/schema.ts` with `npx drizzle-kit generate --name <slug>` (on main only: the migrator
 * orders migrations by journal timestamp) and commit the `.sql` file and `meta/`.
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./lib/store/schema.ts",
  out: "./lib/store/migrations",
});
