/**
 * Starts a member on a crash state (`crash_states.ts`) and judges what it does, as an operator
 * meets it after the machine came back: it must start and serve (an initialised member lists its
 * cluster), or refuse with a message naming the file at fault; never crash with an obscure
 * error, never start having silently lost the initialisation, the members it admitted or the
 * token claims it had acknowledged (what a reader saw at the point of the crash).
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { api, daemonArgs, type Member, stop } from "../helpers/cluster.ts";
import { lastLines, startDaemonProcess, waitForSocket } from "../helpers/process.ts";
import type { CrashState } from "./crash_states.ts";

/** The hashes of the token claims a `token-claims.json` holds (none when absent or unreadable). */
export function claims(file: Buffer | undefined): Set<string> {
  try {
    const v = JSON.parse(file?.toString("utf8") ?? "");
    const list: unknown[] = Array.isArray(v) ? v : Array.isArray(v?.claims) ? v.claims : [];
    return new Set(list.map((c) => (c as { hash?: string }).hash ?? JSON.stringify(c)));
  } catch {
    return new Set();
  }
}

/** What a reader saw at the crash point: `file`'s bytes, or `undefined`. */
function seen(state: CrashState, file: string): Buffer | undefined {
  const inode = state.point.visible.get(file);
  return inode && (state.point.contents.get(inode)?.data ?? inode.data);
}

/**
 * What is wrong with the crash state itself, before any start: a claim the member had granted
 * and no longer holds.
 */
export function lostClaims(state: CrashState): string | undefined {
  const before = claims(seen(state, "token-claims.json"));
  const after = claims(state.files.get("token-claims.json")?.data);
  const lost = [...before].filter((h) => !after.has(h));
  return lost.length ? `${lost.length} token claim(s) granted and lost` : undefined;
}

/**
 * Starts `m` (its directory holding a crash state) with `entry`, judges it, stops it. Returns
 * what is wrong, or `undefined`.
 */
export async function judgeStart(
  m: Member,
  state: CrashState,
  entry: { command: string; args: string[] },
): Promise<string | undefined> {
  const d = startDaemonProcess(daemonArgs(m, { extensions: [] }), entry);
  m.daemon = d;
  try {
    try {
      await waitForSocket(m.dir, d, 90_000);
    } catch {
      if (d.child.exitCode === null && d.child.signalCode === null) {
        return `no answer within 90 s:\n${lastLines(d, 15)}`;
      }
      // A refusal must name the file, so that the operator knows what to look at.
      const names = [...state.files.keys()].filter((f) => f.includes(".") || f === "database");
      const named = names.some((f) => d.logs().includes(f));
      return named ? undefined : `exited ${d.child.exitCode} naming no file:\n${lastLines(d, 15)}`;
    }
    const initialised = seen(state, "daemon.json") !== undefined;
    const leaving = /"step":\s*"leave"/.test(seen(state, "transition.json")?.toString() ?? "");
    let info: { address?: string } = {};
    for (const end = Date.now() + 20_000; Date.now() < end; await sleep(200)) {
      const r = await api(m, "GET", "/core/1.0").catch(() => undefined);
      info = r?.body?.metadata ?? {};
      if (!initialised || info.address) break;
    }
    if (initialised && !leaving && !info.address) {
      return `it had answered as an initialised member and started uninitialised:\n${
        lastLines(d, 15)
      }`;
    }
    if (info.address) {
      // Its store opens after its socket answers: "Database is still starting" (503) until then.
      let list: { status?: number; body?: { error?: string } } = {};
      for (const end = Date.now() + 60_000; Date.now() < end; await sleep(200)) {
        list = await api(m, "GET", "/core/1.0/cluster").catch((e) => ({ body: { error: `${e}` } }));
        if (list.status === 200 || d.child.exitCode !== null) break;
      }
      if (list.status !== 200) {
        return `it lists no cluster (${list.status}: ${list.body?.error}):\n${lastLines(d, 15)}`;
      }
      const names = ((list as { body?: { metadata?: { name: string }[] } }).body?.metadata ?? [])
        .map((e) => e.name);
      const forgot = state.point.admitted.filter((n) => !names.includes(n));
      if (forgot.length) {
        return `it had admitted ${forgot.join(", ")} and lists only ${names.join(", ")}`;
      }
    }
    if (d.child.exitCode !== null) return `it exited ${d.child.exitCode}:\n${lastLines(d, 15)}`;
    return undefined;
  } finally {
    await stop(m);
  }
}
