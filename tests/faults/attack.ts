/**
 * Runs the attacker (`forge.ts`) inside a node's namespace, with a member's identity or
 * another one, against a member of an {@link NsCohort}; and builds the forged frames of
 * issue 12's replays.
 *
 * @module
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { extensionDigest, INTERNAL_EXTENSIONS } from "../../lib/cluster/extensions.ts";
import { moduleCommand } from "../../lib/runtime.ts";
import { EXTENSIONS, type NsCohort } from "./cohort_members.ts";
import type { ForgeResult } from "./forge.ts";
import { sh } from "./system.ts";

const FORGE = resolve(import.meta.dirname ?? ".", "forge.ts");

/** A TLS identity: certificate and key, PEM. */
export interface Identity {
  cert: string;
  key: string;
}

/** Member `i`'s own identity (what a member turned hostile holds). */
export function identityOf(c: NsCohort, i: number): Identity {
  return {
    cert: readFileSync(c.file(i, "server.crt"), "utf8"),
    key: readFileSync(c.file(i, "server.key"), "utf8"),
  };
}

/**
 * From node `from`'s namespace, opens member `to`'s gossip socket as `identity` (default:
 * member `from`'s own) advertising member `from`'s address, and sends `frames`.
 */
export function attack(
  c: NsCohort,
  from: number,
  to: number,
  frames: readonly unknown[],
  identity?: Identity,
  dir?: string,
): ForgeResult {
  const id = identity ?? identityOf(c, from);
  // Keys go through files in the attacker's own directory, never the command line.
  const base = dir ?? c.members[from].dir;
  const certFile = join(base, "forge.crt");
  const keyFile = join(base, "forge.key");
  const framesFile = join(base, "forge.frames");
  writeFileSync(certFile, id.cert, { mode: 0o600 });
  writeFileSync(keyFile, id.key, { mode: 0o600 });
  const lines = frames.map((f) => typeof f === "string" ? f : JSON.stringify(f));
  writeFileSync(framesFile, lines.join("\n"), { mode: 0o600 });
  const cmd = moduleCommand(FORGE);
  const { command, args } = c.net.command(from, cmd.command, [
    ...cmd.args,
    "--to",
    c.members[to].address,
    "--from",
    c.members[from].address,
    "--cluster-cert",
    c.file(0, "cluster.crt"),
    "--cert",
    certFile,
    "--key",
    keyFile,
    "--frames",
    framesFile,
  ]);
  const r = sh(command, args, undefined, 120_000);
  for (const f of [certFile, keyFile, framesFile]) rmSync(f, { force: true });
  const last = r.out.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last) as ForgeResult;
  } catch {
    return { status: 0, sent: 0, error: `forge failed: ${r.err.trim()} ${r.out.trim()}` };
  }
}

/** The wire metadata member `i` gossips about itself, from member 0's view, with `patch`. */
export async function wireMeta(c: NsCohort, i: number, patch: Record<string, unknown> = {}) {
  const entry = (await c.view(0)).find((e) => e.name === c.members[i].name)!;
  const list = [...INTERNAL_EXTENSIONS, ...EXTENSIONS];
  return {
    a: entry.address,
    fp: entry.fingerprint,
    r: entry.role,
    si: entry.schema_internal_version,
    se: entry.schema_external_version,
    v: entry.app_version,
    ec: list.length,
    ed: extensionDigest(list),
    ...patch,
  };
}
