/**
 * The binaries an adversarial operator starts members with: an extension list and a number of
 * app migrations. Three builds on one line of history (each adds to the one before) and one that
 * diverged from it, so every start is the same, newer, older, diverged or a roll-back of what a
 * member ran before.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { MemberVersion } from "../../lib/cluster/compat.ts";

/** The app's migrations fixture: two migrations. */
const APP_MIGRATIONS = fileURLToPath(new URL("../store/fixtures/app_migrations", import.meta.url));

/** One binary: what a member's code runs. */
export interface Build {
  /** `v0`, `v1`, `v2` (one history, each newer than the one before) or `d` (diverged). */
  readonly label: string;
  /** Position on the line of history; the diverged build has none. */
  readonly level: number | undefined;
  readonly extensions: readonly string[];
  /** How many of the fixture's app migrations it knows (1 or 2). */
  readonly app: number;
}

/** Every build, in the order of history (the diverged one last). */
export const BUILDS: readonly Build[] = Object.freeze([
  { label: "v0", level: 0, extensions: ["alpha_one"], app: 1 },
  { label: "v1", level: 1, extensions: ["alpha_one", "beta_two"], app: 1 },
  { label: "v2", level: 2, extensions: ["alpha_one", "beta_two", "gamma_three"], app: 2 },
  { label: "d", level: undefined, extensions: ["alpha_one", "delta_four"], app: 1 },
]);

/** The build labelled `label`. */
export function build(label: string): Build {
  const b = BUILDS.find((x) => x.label === label);
  if (!b) throw new Error(`no build "${label}"`);
  return b;
}

let folders: Map<number, string> | undefined;

/** The app migrations folder of a build (made once per process: the fixture cut to `app`). */
export function migrationsOf(b: Build): string {
  if (!folders) {
    const dir = mkdtempSync(join(tmpdir(), "cohort-sim-app-"));
    // Outside the test runner (whose per-file TMPDIR goes with the file), nothing else removes it.
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const one = join(dir, "one");
    cpSync(APP_MIGRATIONS, one, { recursive: true });
    const journal = join(one, "meta/_journal.json");
    const parsed = JSON.parse(readFileSync(journal, "utf8")) as { entries: unknown[] };
    parsed.entries = parsed.entries.slice(0, 1);
    writeFileSync(journal, JSON.stringify(parsed));
    folders = new Map([[1, one], [2, APP_MIGRATIONS]]);
  }
  return folders.get(b.app)!;
}

/** The label of the build whose versions `v` are, or `?…` for versions no build has. */
export function labelOf(v: MemberVersion | undefined): string | undefined {
  if (!v) return undefined;
  // cohort's own extensions (`internal:…`) come first in every list.
  const app = v.extensions.filter((e) => !e.startsWith("internal:"));
  const b = BUILDS.find((x) =>
    x.app === v.schemaExternal && x.extensions.length === app.length &&
    x.extensions.every((e, i) => e === app[i])
  );
  return b?.label ?? `?${app.join(",")}/${v.schemaExternal}`;
}
