/**
 * Writing `daemon.json` durably: a bootstrap's ({@link writeDaemonConfig}), and a join's,
 * prepared beside the file while the joiner's network starts, synced, and put in place by one
 * rename at the commit, with the seed of the view it was handed, which stays in it until the
 * store holds that view (see `join_view.ts`); and an earlier release's spelling of its address
 * rewritten in the one spelling at a start. Apart from `state_dir.ts`, whose paths every CLI
 * command reads: these need the file system's promises, which a command that only talks to a
 * daemon should not load.
 *
 * @module
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { storedAddress } from "../cluster/address_stored.ts";
import type { JsonValue } from "../json_value.ts";
import { files } from "../files.ts";
import { tempName } from "../temp_name.ts";
import { writeDurablyAsync } from "../write_durably.ts";
import { configText, type DaemonConfig, readDaemonConfig, type StatePaths } from "./state_dir.ts";

/**
 * Writes `daemon.json` atomically and durably, off the event loop: temporary file, fsync,
 * rename, fsync of the directory. Without the fsync before the rename, a file system that
 * turned read-only after an I/O error (or an operating-system crash) seconds after a bootstrap
 * left a `daemon.json` of zeros, which the restart refused as "not valid JSON". A failed write
 * removes its temporary file.
 */
export async function writeDaemonConfig(paths: StatePaths, config: DaemonConfig): Promise<void> {
  await writeDurablyAsync(paths.dir, paths.config, configText(config));
}

/** Where a join prepares its `daemon.json` (see {@link prepareDaemonConfig}). */
function preparedPath(paths: StatePaths): string {
  return `${paths.config}.next`;
}

/**
 * What a join keeps in `daemon.json` until its store holds the view it was handed: the seed of
 * that view (see `join_view.ts`), synced with the commit.
 */
export interface JoinSeed {
  /** The admitting member's address. */
  via: string;
  /** The admitting member's and this member's entries and roster records, as an exported view. */
  state: JsonValue;
}

/**
 * Writes `config` (and a join's `seed`) beside `daemon.json` (into the page cache: the sync is
 * {@link syncPreparedDaemonConfig}), for {@link commitDaemonConfig} to put in place: a join
 * prepares its commit while its network starts, so that the commit itself is one rename (and
 * the directory's sync).
 */
export function prepareDaemonConfig(
  paths: StatePaths,
  config: DaemonConfig,
  seed?: JoinSeed,
): void {
  const text = configText(seed ? { ...config, join_seed: seed } : config);
  writeFileSync(preparedPath(paths), text, { mode: 0o600 });
}

/** Syncs the prepared `daemon.json` (fsync), off the event loop. */
export async function syncPreparedDaemonConfig(paths: StatePaths): Promise<void> {
  await files().sync(preparedPath(paths));
}

/** Puts the prepared `daemon.json` in place (one rename); the caller syncs the directory. */
export function commitDaemonConfig(paths: StatePaths): void {
  renameSync(preparedPath(paths), paths.config);
}

/** Removes a prepared `daemon.json` that was not committed (a join undone). */
export function discardDaemonConfig(paths: StatePaths): void {
  rmSync(preparedPath(paths), { force: true });
}

/** The seed a join kept in `daemon.json`, or `undefined` (none, or no readable file). */
export function readJoinSeed(paths: StatePaths): JoinSeed | undefined {
  try {
    const seed = JSON.parse(readFileSync(paths.config, "utf8"))?.join_seed as Partial<JoinSeed>;
    if (typeof seed?.via === "string" && seed.state !== undefined && seed.state !== null) {
      return { via: seed.via, state: seed.state };
    }
  } catch { /* none, or unreadable: the start reports the latter */ }
  return undefined;
}

/**
 * Drops a join's seed from `daemon.json` (the store holds the view), durably and off the event
 * loop. Never brings back a `daemon.json` removed or replaced meanwhile (a leave): the new one
 * takes its place only if the file is still the one read, checked and renamed in one turn.
 */
export async function forgetJoinSeed(paths: StatePaths): Promise<void> {
  let text: string;
  try {
    text = readFileSync(paths.config, "utf8");
  } catch {
    return; // none: nothing to drop
  }
  let config: DaemonConfig | undefined;
  try {
    if (JSON.parse(text)?.join_seed === undefined) return;
    config = readDaemonConfig(paths);
  } catch { /* unreadable: left for the start to report */ }
  if (!config) return;
  const tmp = tempName(paths.config);
  try {
    await files().writeFile(tmp, configText(config), { mode: 0o600 });
    await files().sync(tmp);
  } catch (err) {
    await files().rm(tmp, { force: true }).catch(() => {}); // torn (a full disk): the seed stays
    throw err;
  }
  let now: string | undefined;
  try {
    now = readFileSync(paths.config, "utf8");
  } catch { /* removed meanwhile */ }
  if (now === text) renameSync(tmp, paths.config);
  else rmSync(tmp, { force: true });
  await files().sync(paths.dir).catch(() => {}); // best effort, as every directory sync
}

/** The address `daemon.json` held and the one spelling it now holds. */
export interface Respelled {
  from: string;
  to: string;
}

/**
 * Rewrites the address `daemon.json` holds in its one spelling when an earlier release kept it
 * as typed (`127.0.0.1:09101`, `LOCALHOST:9101`: see `address_stored.ts`), keeping the rest of
 * the file (a join's seed), durably, off the event loop; never over a file replaced meanwhile.
 * `undefined` when it holds the one spelling already (or no file it can read: the start reads
 * it first and reports that).
 */
export async function respellDaemonConfig(paths: StatePaths): Promise<Respelled | undefined> {
  let text: string;
  let value: Record<string, unknown>;
  try {
    text = readFileSync(paths.config, "utf8");
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const from = value?.address;
  if (typeof from !== "string" || storedAddress(from) === from) return undefined;
  const to = storedAddress(from);
  const tmp = tempName(paths.config);
  try {
    await files().writeFile(tmp, JSON.stringify({ ...value, address: to }, null, 2) + "\n", {
      mode: 0o600,
    });
    await files().sync(tmp);
  } catch (err) {
    await files().rm(tmp, { force: true }).catch(() => {}); // torn (a full disk): no use
    throw err;
  }
  let now: string | undefined;
  try {
    now = readFileSync(paths.config, "utf8");
  } catch { /* removed meanwhile */ }
  if (now !== text) {
    rmSync(tmp, { force: true }); // replaced meanwhile (its seed forgotten): read at next start
    return undefined;
  }
  renameSync(tmp, paths.config);
  await files().sync(paths.dir).catch(() => {}); // best effort, as every directory sync
  return { from, to };
}
