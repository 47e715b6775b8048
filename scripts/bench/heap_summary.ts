/**
 * What a V8 heap snapshot holds: the self size of its objects summed by kind (code, strings,
 * arrays, closures, native objects...) and by constructor name, largest first. Used to explain
 * an idle member's heap (issue 15, "Memory"): `scripts/bench/formation.ts --heap-snapshot DIR`
 * writes the admitting member's snapshot at the end of the idle window.
 *
 * Also by module ({@link byScript}): what each package's and each of cohort's folders' scripts
 * hold as source text, bytecode, machine code and function records.
 *
 * With `--base OTHER.heapsnapshot` (the same member's kind at a smaller N, say), it also prints
 * what grew from OTHER to FILE, by {@link byRetainer}: which holder's arrays, strings and objects.
 *
 * Usage: `node --import tsx scripts/bench/heap_summary.ts FILE.heapsnapshot [--top 30]
 *   [--base OTHER.heapsnapshot]`
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import process from "node:process";
import { parseArgs } from "node:util";

/**
 * Has member `pid` (started with `--heapsnapshot-signal=SIGUSR2`) write its heap snapshot into
 * `dir`; resolves with the new file's name once it is complete, or `undefined` when none came
 * within two minutes.
 */
export async function takeHeapSnapshot(pid: number, dir: string): Promise<string | undefined> {
  const list = () => readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot"));
  const known = new Set(list());
  process.kill(pid, "SIGUSR2");
  let file: string | undefined;
  let size = -1;
  for (let k = 0; k < 600; k++) {
    await sleep(200);
    file ??= list().find((f) => !known.has(f));
    if (!file) continue;
    // Written by the member in one go: complete once its size stops growing.
    const now = statSync(join(dir, file)).size;
    if (now === size && now > 0) break;
    size = now;
  }
  return file;
}

/** A V8 heap snapshot as `v8.writeHeapSnapshot` and `--heapsnapshot-signal` write it. */
export interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
    node_count: number;
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Sums of self sizes (bytes) by kind and by `kind: name`, and the heap's total. */
export function summarise(snap: Snapshot): {
  total: number;
  byKind: Map<string, number>;
  byName: Map<string, { bytes: number; count: number }>;
} {
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [iType, iName, iSize] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const byKind = new Map<string, number>();
  const byName = new Map<string, { bytes: number; count: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const kind = types[snap.nodes[i + iType]];
    const size = snap.nodes[i + iSize];
    total += size;
    byKind.set(kind, (byKind.get(kind) ?? 0) + size);
    // Strings and code are named by their content or function: one bucket per kind is enough.
    const name = kind === "object" || kind === "native" || kind === "closure"
      ? `${kind}: ${snap.strings[snap.nodes[i + iName]].slice(0, 60)}`
      : kind;
    const entry = byName.get(name) ?? { bytes: 0, count: 0 };
    entry.bytes += size;
    entry.count++;
    byName.set(name, entry);
  }
  return { total, byKind, byName };
}

/**
 * Self sizes (bytes) and counts by `kind: name ← holder.edge`, where the holder is the first
 * object found holding the node (strong edges only; an array's or a closure's own holder when
 * the first holder is an array or internal), so that growth is named by who keeps it: `array ←
 * Map.table`, `string ← Object.name`... Code is one bucket (see {@link byScript}).
 */
export function byRetainer(snap: Snapshot): Map<string, { bytes: number; count: number }> {
  const { nodes, edges, strings } = snap;
  const meta = snap.snapshot.meta;
  const W = meta.node_fields.length;
  const EW = meta.edge_fields.length;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const n = nodes.length / W;
  const holder = new Int32Array(n).fill(-1);
  const label = new Int32Array(n).fill(-1);
  for (let i = 0, e = 0; i < n; i++) {
    const end = e + nodes[i * W + 4] * EW;
    for (; e < end; e += EW) {
      const kind = edgeTypes[edges[e]];
      if (kind === "weak" || kind === "shortcut") continue;
      const to = edges[e + 2] / W;
      if (holder[to] >= 0) continue;
      holder[to] = i;
      label[to] = kind === "element" || kind === "hidden" ? -2 : edges[e + 1];
    }
  }
  const type = (i: number) => types[nodes[i * W]];
  const name = (i: number) => strings[nodes[i * W + 1]].slice(0, 40);
  const out = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < n; i++) {
    const t = type(i);
    const size = nodes[i * W + 3];
    let key = t;
    if (t !== "code") {
      let h = holder[i];
      let l = label[i];
      // Past arrays and V8's internals, to the object that owns them.
      for (let k = 0; k < 4 && h >= 0 && /^(array|hidden)$/.test(type(h)); k++) {
        l = label[h];
        h = holder[h];
      }
      const own = t === "object" || t === "native" || t === "closure" ? `${t}: ${name(i)}` : t;
      key = h < 0 ? own : `${own} ← ${name(h)}${l >= 0 ? "." + strings[l].slice(0, 30) : ""}`;
    }
    const entry = out.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += size;
    entry.count++;
    out.set(key, entry);
  }
  return out;
}

/** What a module's share of the heap is made of (bytes, self sizes). */
export interface ScriptShare {
  /** Modules (V8 scripts) in the group. */
  scripts: number;
  /** Source text held on the heap (built-ins' sources live in the executable: ~0 here). */
  source: number;
  /** Bytecode, constant pools, source position and handler tables. */
  bytecode: number;
  /** Machine code (baseline, optimised) and its relocation and deoptimisation data. */
  machineCode: number;
  /** Function records, scope infos, lazy functions' data, literal and name strings. */
  metadata: number;
  /** Closures (function objects) with their feedback cells and vectors. */
  functions: number;
}

/**
 * The heap's code and source split by the script (module) they belong to, grouped by `group`
 * (default: the npm package, `dist/DIR/…` for cohort's own files, `node:` built-ins). Each
 * object is counted once, for the first owner that reaches it: a script (its source and line
 * ends), then each function record (SharedFunctionInfo: its bytecode, scope info, feedback
 * metadata, code), then each closure (its feedback). Objects the module's code makes at run
 * time (tables, caches) are not here: they are in {@link summarise}'s constructors.
 */
export function byScript(
  snap: Snapshot,
  group: (scriptName: string) => string = packageOf,
): Map<string, ScriptShare> {
  const { nodes, edges, strings } = snap;
  const meta = snap.snapshot.meta;
  const W = meta.node_fields.length;
  const EW = meta.edge_fields.length;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const n = nodes.length / W;
  const firstEdge = new Uint32Array(n + 1);
  for (let i = 0, e = 0; i < n; i++) {
    firstEdge[i] = e;
    e += nodes[i * W + 4] * EW;
  }
  firstEdge[n] = edges.length;
  const type = (i: number) => types[nodes[i * W]];
  const name = (i: number) => strings[nodes[i * W + 1]];
  const size = (i: number) => nodes[i * W + 3];
  const out = (i: number) => {
    const list: { kind: string; label: string; to: number }[] = [];
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EW) {
      const kind = edgeTypes[edges[e]];
      const label = kind === "element" || kind === "hidden" ? "" : strings[edges[e + 1]];
      list.push({ kind, label, to: edges[e + 2] / W });
    }
    return list;
  };
  // Owners: scripts (code nodes with a source and a name), function records pointing to a
  // script, closures pointing to a function record.
  const ownerScript = new Int32Array(n).fill(-1);
  const scripts: number[] = [];
  const sfis: number[] = [];
  const closures: number[] = [];
  for (let i = 0; i < n; i++) {
    if (type(i) !== "code") continue;
    const es = out(i);
    if (es.some((e) => e.label === "source") && es.some((e) => e.label === "name")) {
      ownerScript[i] = i;
      scripts.push(i);
    }
  }
  for (let i = 0; i < n; i++) {
    if (type(i) !== "code" || ownerScript[i] >= 0) continue;
    const s = out(i).find((e) => e.label === "script_or_debug_info" || e.label === "script");
    if (s && ownerScript[s.to] === s.to) {
      ownerScript[i] = s.to;
      sfis.push(i);
    }
  }
  for (let i = 0; i < n; i++) {
    if (type(i) !== "closure") continue;
    const s = out(i).find((e) => e.label === "shared");
    if (s && ownerScript[s.to] >= 0) {
      ownerScript[i] = ownerScript[s.to];
      closures.push(i);
    }
  }
  const claimed = new Uint8Array(n);
  const shares = new Map<string, ScriptShare>();
  const shareOf = (script: number) => {
    const g = group(name(script));
    let s = shares.get(g);
    if (!s) {
      s = { scripts: 0, source: 0, bytecode: 0, machineCode: 0, metadata: 0, functions: 0 };
      shares.set(g, s);
    }
    return s;
  };
  const bucket = (i: number, viaSource: boolean): keyof ScriptShare => {
    const t = type(i);
    const nm = name(i);
    if (viaSource) return "source";
    if (t === "closure" || /^system \/ Feedback(Vector|Cell)$/.test(nm)) return "functions";
    if (
      /BytecodeArray|constant pool|source position table|handler table|bytecode offset/.test(nm)
    ) {
      return "bytecode";
    }
    if (/code|deopt/i.test(nm) && t === "code" && !/^system \//.test(nm)) return "machineCode";
    return "metadata";
  };
  const claim = (root: number, script: number) => {
    const share = shareOf(script);
    const stack: [number, boolean][] = [[root, false]];
    while (stack.length) {
      const [i, viaSource] = stack.pop()!;
      if (claimed[i]) continue;
      claimed[i] = 1;
      share[bucket(i, viaSource)] += size(i);
      for (const e of out(i)) {
        if (e.kind === "weak" || e.kind === "shortcut" || e.kind === "context") continue;
        const t = type(e.to);
        // Other owners are claimed on their own turn; shapes and plain objects are shared.
        if (claimed[e.to] || ownerScript[e.to] >= 0 && e.to !== root) continue;
        if (t === "object" || t === "object shape" || t === "native" || t === "synthetic") continue;
        if (name(e.to) === "system / Map" || name(e.to) === "system / Context") continue;
        stack.push([e.to, viaSource || (i === script && e.label === "source")]);
      }
    }
  };
  for (const s of scripts) {
    shareOf(s).scripts++;
    claim(s, s);
  }
  for (const f of sfis) claim(f, ownerScript[f]);
  for (const c of closures) claim(c, ownerScript[c]);
  return shares;
}

/**
 * A script's group: `node:` for Node's built-ins, the package for a file under `node_modules`
 * (`drizzle-orm/pg-core` for Drizzle's dialects), `cohort dist/lib` for cohort's own files as
 * tsc writes them, the chunk for the bundle (`dist/mod.js`, `dist/mod-daemon-HASH.js`...).
 */
export function packageOf(script: string): string {
  if (script.startsWith("node:") || /^(internal|node)\//.test(script)) return "node: built-ins";
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(script);
  if (m) {
    const sub = m[1] === "drizzle-orm" && /^(pg|sqlite|mysql|gel|singlestore)-core\//.test(m[2])
      ? "/" + m[2].split("/")[0]
      : "";
    return m[1] + sub;
  }
  // dist/mod.js is a bundle (scripts/bundle_mod.ts): its chunks hold cohort with its libraries.
  const chunk = /\/(mod(?:-([a-z_]+)-[A-Z0-9]+)?)\.js$/.exec(script);
  if (chunk) return `cohort bundle: ${chunk[2] ? `mod-${chunk[2]}-*` : "mod"}.js`;
  const own = /\/(dist|lib|routes|gossip)\/(.*)$/.exec(script);
  if (own) {
    const parts = own[2].split("/");
    return `cohort ${own[1]}/${parts.length > 1 ? parts[0] : ""}`;
  }
  return script ? "(other: " + script.slice(0, 40) + ")" : "(unnamed)";
}

if (process.argv[1]?.endsWith("heap_summary.ts")) {
  const { values, positionals } = parseArgs({
    options: { top: { type: "string", default: "30" }, base: { type: "string" } },
    allowPositionals: true,
  });
  const file = positionals[0];
  if (!file) {
    console.error("usage: heap_summary.ts FILE.heapsnapshot [--top 30]");
    process.exit(2);
  }
  const snap: Snapshot = JSON.parse(readFileSync(file, "utf8"));
  const { total, byKind, byName } = summarise(snap);
  const mb = (b: number) => (b / 2 ** 20).toFixed(2);
  console.log(`\n${file}: ${mb(total)} MB in objects (self sizes)\n`);
  console.log("| kind | MB | share |");
  console.log("|---|---|---|");
  for (const [kind, bytes] of [...byKind].sort((a, b) => b[1] - a[1])) {
    console.log(`| ${kind} | ${mb(bytes)} | ${(100 * bytes / total).toFixed(1)} % |`);
  }
  console.log("\n| kind: constructor | MB | objects |");
  console.log("|---|---|---|");
  const top = [...byName].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top));
  for (const [name, { bytes, count }] of top) {
    console.log(`| ${name.replaceAll("|", "\\|")} | ${mb(bytes)} | ${count} |`);
  }
  if (values.base) {
    const base = byRetainer(JSON.parse(readFileSync(values.base, "utf8")));
    const grown = [...byRetainer(snap)].map(([k, v]) => {
      const b = base.get(k) ?? { bytes: 0, count: 0 };
      return [k, v.bytes - b.bytes, v.count - b.count] as const;
    }).sort((a, b) => b[1] - a[1]);
    const all = grown.reduce((s, [, bytes]) => s + bytes, 0);
    console.log(`\nGrown from ${values.base}: ${mb(all)} MB in all\n`);
    console.log("| kind: constructor ← holder.edge | MB | objects |");
    console.log("|---|---|---|");
    for (const [k, bytes, count] of grown.slice(0, Number(values.top))) {
      console.log(`| ${k.replaceAll("|", "\\|")} | ${mb(bytes)} | ${count} |`);
    }
  }
  const shares = [...byScript(snap)].sort((a, b) => sum(b[1]) - sum(a[1]));
  console.log(
    "\n| module group | scripts | source | bytecode | machine code | metadata | functions | MB |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  const all = { scripts: 0, source: 0, bytecode: 0, machineCode: 0, metadata: 0, functions: 0 };
  for (const [, share] of shares) {
    for (const k of Object.keys(all) as (keyof ScriptShare)[]) all[k] += share[k];
  }
  for (const [g, s] of [...shares.slice(0, Number(values.top)), ["all", all] as const]) {
    console.log(
      `| ${g} | ${s.scripts} | ${mb(s.source)} | ${mb(s.bytecode)} | ${mb(s.machineCode)} | ${
        mb(s.metadata)
      } | ${mb(s.functions)} | ${mb(sum(s))} |`,
    );
  }
}

function sum(s: ScriptShare): number {
  return s.source + s.bytecode + s.machineCode + s.metadata + s.functions;
}
