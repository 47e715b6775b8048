/**
 * The notes daemon, release 1: `node dist/v1.js --state-dir DIR` or
 * `deno run -A src/v1.ts --state-dir DIR`.
 *
 * @module
 */
import process from "node:process";
import { main } from "./main.ts";
import { RELEASE_1 } from "./releases.ts";

process.exit(await main(RELEASE_1, process.argv.slice(2)));
