/**
 * cohort: leaderless clustering for Deno and Node.
 *
 * @module
 */
export * from "./lib/errors.ts";
export * from "./lib/log.ts";
export * from "./lib/cluster/extensions.ts";
