/**
 * Run by `fd_limit.fault.ts` under a low limit of open files (`prlimit --nofile=N`): a state
 * directory (the argument) holding one claim, read by a member's {@link TokenClaims} once every
 * descriptor the process may open is taken, then again once they are free. Prints one JSON
 * line: `full` (what the read with no descriptor left gave: the error code, or the holder's
 * name), `after` (the holder's name then), `file` (the names the file holds after a claim
 * granted once descriptors are free).
 */
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { SimClock } from "../../gossip/sim_clock.ts";
import { statePaths } from "../../lib/daemon/state_dir.ts";
import { claimsFile, TokenClaims } from "../../lib/daemon/token_claims.ts";
import { silentLogger } from "../../lib/log.ts";

const dir = process.argv[process.argv.length - 1];
const paths = statePaths(dir);
const held = { hash: "a".repeat(64), name: "f9", address: "10.0.0.9:7443", fingerprint: "9" };
writeFileSync(claimsFile(paths), JSON.stringify({ claims: [{ ...held, at: 0 }] }) + "\n");
const claims = new TokenClaims(paths, new SimClock(Date.UTC(2026, 0, 1)), silentLogger);

const taken: number[] = [];
let full: unknown;
try {
  for (;;) taken.push(openSync("/dev/null", "r"));
} catch (err) {
  if ((err as { code?: unknown }).code !== "EMFILE") throw err;
}
try {
  full = claims.holder(held.hash)?.name ?? null;
} catch (err) {
  full = (err as { code?: unknown }).code ?? String(err);
}
for (const fd of taken) closeSync(fd);

const after = claims.holder(held.hash)?.name ?? null;
await claims.grant(
  { hash: "b".repeat(64), name: "f8", address: "10.0.0.8:7443", fingerprint: "8" },
  () => false,
);
const file = JSON.parse(readFileSync(claimsFile(paths), "utf8")).claims.map(
  (c: { name: string }) => c.name,
).sort().reverse();
console.log(JSON.stringify({ full, after, file, taken: taken.length }));
