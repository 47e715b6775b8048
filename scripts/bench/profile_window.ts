/**
 * Where a process's time went over a window of the host's monotonic clock, from its V8 CPU
 * profile (`node --cpu-prof`): busy and idle time, and the functions that took the busy part.
 * A profile's timestamps are the host's `CLOCK_MONOTONIC` in µs (V8's `TimeTicks` on Linux, as
 * `process.hrtime` is), so a window another process measured (`formation.ts`: from a join's
 * admission to the exit of its `init --token`) maps onto it directly.
 *
 * A sample covers the time since the one before it: on a loaded machine that includes the time
 * the process waited for a core, counted to what ran when it got one. `(program)` is native
 * work outside JavaScript (a TLS handshake, a synchronous SQLite call), `(garbage collector)`
 * V8's collections.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { dirname, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type Frame, label, ours, type Profile } from "./long_tasks.ts";

const maps = new Map<string, SourceMap | null>();
/**
 * A frame of the bundled daemon (`dist/`, minified) mapped to its source file and line through
 * the bundle's source map; any other frame as it is.
 */
export function sourceFrame(f: Frame): Frame {
  if (!f.url.startsWith("file://") || !f.url.endsWith(".js")) return f;
  let map = maps.get(f.url);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${fileURLToPath(f.url)}.map`, "utf8")));
    } catch {
      map = null;
    }
    maps.set(f.url, map);
  }
  const e = map?.findEntry(f.lineNumber, f.columnNumber ?? 0) as
    | { originalSource?: string; originalLine?: number }
    | undefined;
  if (!e?.originalSource) return f;
  const file = resolve(dirname(fileURLToPath(f.url)), e.originalSource);
  return { ...f, url: `file://${file}`, lineNumber: e.originalLine ?? 0 };
}

/** What a window of a profile held, ms. */
export interface WindowCost {
  /** The window's length covered by samples. */
  ms: number;
  /** Samples not `(idle)`. */
  busy: number;
  /** Self time per function, heaviest first. */
  self: [string, number][];
  /** Busy time under the innermost frame of cohort's own code (the library call it made). */
  inner: [string, number][];
  /** Busy time under the outermost frame of cohort's own code. */
  outer: [string, number][];
}

/** The cost of `prof` between `fromUs` and `toUs` (µs, the host's monotonic clock). */
export function windowCost(prof: Profile, fromUs: number, toUs: number, top = 8): WindowCost {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frames = new Map<number, { inner: string; outer: string }>();
  const framesOf = (id: number) => {
    let known = frames.get(id);
    if (known) return known;
    let inner = "";
    let outer = "";
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = sourceFrame(byId.get(cur)!.callFrame);
      if (!ours(f)) continue;
      inner ||= label(f);
      outer = label(f);
    }
    const own = label(sourceFrame(byId.get(id)!.callFrame));
    known = { inner: inner || own, outer: outer || own };
    frames.set(id, known);
    return known;
  };
  const self = new Map<string, number>();
  const inner = new Map<string, number>();
  const outer = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, ms: number) => m.set(k, (m.get(k) ?? 0) + ms);
  let t = prof.startTime;
  let ms = 0;
  let busy = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dtUs = prof.timeDeltas[i] ?? 0;
    t += dtUs;
    if (t < fromUs || t > toUs) continue;
    const dt = dtUs / 1000;
    ms += dt;
    const node = byId.get(prof.samples[i])!;
    if (node.callFrame.functionName === "(idle)") continue;
    busy += dt;
    add(self, label(sourceFrame(node.callFrame)), dt);
    const f = framesOf(node.id);
    add(inner, f.inner, dt);
    add(outer, f.outer, dt);
  }
  const sort = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { ms, busy, self: sort(self), inner: sort(inner), outer: sort(outer) };
}

/** The host's monotonic clock, ms (the clock of every process's CPU profile). */
export const monotonicMs = (): number => Number(process.hrtime.bigint() / 1000n) / 1000;
