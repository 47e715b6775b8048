/**
 * The longest tasks on a member's event loop, from a V8 CPU profile (`node --cpu-prof`, or
 * `formation.ts --cpu-prof DIR`): runs of consecutive non-idle samples, longest first, each with
 * its start (seconds after the profile began, and the wall clock when `--epoch MS` gives the
 * profile's start), and the functions that took most of it (self time, and the outermost
 * cohort frames under which the time went). Issue 15: no task on a member's event loop may take
 * more than a small fraction of the 500 ms probe timeout.
 *
 * A sample is busy when its frame is not `(idle)`: `(program)` (native work outside JavaScript,
 * such as TLS or a synchronous SQLite call) and `(garbage collector)` count. On a loaded machine a
 * task also counts the time its process waited for a core.
 *
 * Usage: `node --import tsx scripts/bench/long_tasks.ts FILE.cpuprofile… [--top 10] [--min 20]
 *   [--after S] [--epoch MS]` (`--after`: only tasks starting S seconds or more into the profile,
 * to leave out the process's start-up)
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";

/** A profile node's call frame. */
export interface Frame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber?: number;
}
/** A profile node. */
export interface Node {
  id: number;
  callFrame: Frame;
  children?: number[];
}
/** A V8 CPU profile (`.cpuprofile`). */
export interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
}

/** One task: consecutive busy samples. */
export interface Task {
  /** Start, ms after the profile began. */
  at: number;
  /** Length, ms. */
  ms: number;
  /** Self time per function, ms, heaviest first. */
  self: [string, number][];
  /** Time under each outermost frame of our own code (not node_modules, not node:), ms. */
  outer: [string, number][];
}

/** A frame's name and place (`fn dist/file.js:LINE`). */
export const label = (f: Frame): string => {
  const path = f.url.replace(/^file:\/\//, "");
  const file = path.includes("/node_modules/")
    ? path.replace(/^.*\/node_modules\//, "node_modules/")
    : path.replace(/^.*?\/(dist|lib|gossip|routes)\//, "$1/");
  return `${f.functionName || "(anonymous)"} ${file}${file ? `:${f.lineNumber + 1}` : ""}`;
};
/** A frame of cohort's own code (not node_modules, not node:). */
export const ours = (f: Frame): boolean =>
  /\/(dist|lib|gossip|routes)\//.test(f.url) && !f.url.includes("node_modules");

/** The tasks of `prof` of at least `minMs`, longest first. */
export function longTasks(prof: Profile, minMs = 0): Task[] {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const outerOf = new Map<number, string>();
  const outer = (id: number): string => {
    const known = outerOf.get(id);
    if (known !== undefined) return known;
    let found = "";
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (ours(f)) found = label(f);
    }
    outerOf.set(id, found || label(byId.get(id)!.callFrame));
    return outerOf.get(id)!;
  };
  const tasks: Task[] = [];
  let t = 0;
  let cur:
    | { at: number; ms: number; self: Map<string, number>; outer: Map<string, number> }
    | null = null;
  const close = () => {
    if (cur && cur.ms >= minMs) {
      const sort = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 6);
      tasks.push({ at: cur.at, ms: cur.ms, self: sort(cur.self), outer: sort(cur.outer) });
    }
    cur = null;
  };
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = (prof.timeDeltas[i] ?? 0) / 1000;
    t += dt;
    const node = byId.get(prof.samples[i])!;
    if (node.callFrame.functionName === "(idle)") {
      close();
      continue;
    }
    cur ??= { at: t, ms: 0, self: new Map(), outer: new Map() };
    cur.ms += dt;
    const s = label(node.callFrame);
    cur.self.set(s, (cur.self.get(s) ?? 0) + dt);
    const o = outer(node.id);
    cur.outer.set(o, (cur.outer.get(o) ?? 0) + dt);
  }
  close();
  return tasks.sort((a, b) => b.ms - a.ms);
}

if (process.argv[1]?.endsWith("long_tasks.ts")) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: "string", default: "10" },
      min: { type: "string", default: "20" },
      epoch: { type: "string" },
      after: { type: "string", default: "0" },
    },
  });
  for (const file of positionals) {
    const prof = JSON.parse(readFileSync(file, "utf8")) as Profile;
    const after = Number(values.after) * 1000;
    const tasks = longTasks(prof, Number(values.min)).filter((t) => t.at >= after);
    const total = prof.timeDeltas.reduce((a, b) => a + b, 0) / 1000;
    console.log(
      `${file}: ${(total / 1000).toFixed(1)} s profiled, ${tasks.length} tasks ≥ ${values.min} ms` +
        (after ? ` from +${values.after} s` : ""),
    );
    for (const task of tasks.slice(0, Number(values.top))) {
      const wall = values.epoch
        ? ` (${new Date(Number(values.epoch) + task.at).toISOString().slice(11, 23)})`
        : "";
      console.log(`\n  ${task.ms.toFixed(0)} ms at +${(task.at / 1000).toFixed(2)} s${wall}`);
      console.log("    under:");
      for (const [f, ms] of task.outer) console.log(`      ${ms.toFixed(0).padStart(5)} ms  ${f}`);
      console.log("    self:");
      for (const [f, ms] of task.self) console.log(`      ${ms.toFixed(0).padStart(5)} ms  ${f}`);
    }
  }
}
