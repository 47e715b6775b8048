/**
 * One version everywhere: `package.json` (npm), `deno.json` (JSR) and the `VERSION` constant
 * that `cohort --version` prints.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { VERSION } from "../../lib/version.ts";
import { ROOT } from "../helpers/packed.ts";

const test = suite("package version");

test("package.json and lib/version.ts carry the same semver version", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  assert.is(pkg.version, VERSION);
  assert.match(VERSION, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
});

test.run();
