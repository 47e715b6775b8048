/**
 * cohort's own version: the package version of `package.json` and `deno.json` (a test keeps the
 * three equal). Printed by `cohort --version`.
 *
 * @module
 */

/** The version of this cohort package (semver). */
export const VERSION = "0.1.0";
