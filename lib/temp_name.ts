/**
 * The one spelling of the temporary files that atomic writes leave beside their target until the
 * rename (`daemon.json`, `transition.json`, `token-claims.json`, `servers.json`, the lock, the
 * key pairs), and the one reading of it: a start removes what a writer that is gone left behind
 * (`state_dir.ts`), so a writer naming its temporary any other way would leave files nobody ever
 * removes. `tests/temp_name_writers.test.ts` fails when a module of `lib/` spells one itself.
 *
 * @module
 */
import { basename } from "node:path";
import process from "node:process";

/** Temporaries named so far by this process: no two writes, even to one target, share one. */
let named = 0;

/**
 * The path of a new temporary file beside `target` for a write by this process:
 * `TARGET.PID-N.tmp`, N counting this process's temporaries (so concurrent writes never share
 * one), PID telling a later start whether its writer is still alive.
 */
export function tempName(target: string): string {
  return `${target}.${process.pid}-${named++}.tmp`;
}

/** This release's spelling (see {@link tempName}). */
const CURRENT = /^.+\.(\d+)-\d+\.tmp$/;

/**
 * Earlier releases' spellings, which a state directory may still hold after an upgrade:
 * `NAME.PID.tmp`, `.forget`, `.respell.tmp`, `.new`, `.stale` and the key pairs'
 * `NAME.tmp-PID-TIME` (TIME in base 36).
 */
const EARLIER = /^.+?\.(?:(\d+)\.(?:tmp|forget|respell\.tmp|new|stale)|tmp-(\d+)-[0-9a-z]+)$/;

/**
 * The pid of the process that named the temporary file `name` (a path or a base name), in this
 * release's spelling or an earlier one; `undefined` when `name` is not a temporary's.
 */
export function tempWriter(name: string): number | undefined {
  const base = basename(name);
  const m = CURRENT.exec(base) ?? EARLIER.exec(base);
  if (!m) return undefined;
  const pid = Number(m[1] ?? m[2]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}
