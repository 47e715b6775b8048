/**
 * The notes daemon, release 2 (tags): `node dist/v2.js --state-dir DIR` or
 * `deno run -A src/v2.ts --state-dir DIR`.
 *
 * @module
 */
import process from "node:process";
import { main } from "./main.ts";
import { RELEASE_2 } from "./releases.ts";

process.exit(await main(RELEASE_2, process.argv.slice(2)));
