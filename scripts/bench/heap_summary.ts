/**
 * What a V8 heap snapshot holds: the self size of its objects summed by kind (code, strings,
 * arrays, closures, native objects...) and by constructor name, largest first. Used to explain
 * an idle member's heap (issue 15, "Memory"): `scripts/bench/formation.ts --heap-snapshot DIR`
 * writes the admitting member's snapshot at the end of the idle window.
 *
 * Usage: `node --import tsx scripts/bench/heap_summary.ts FILE.heapsnapshot [--top 30]`
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[], ...unknown[]] };
    node_count: number;
  };
  nodes: number[];
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

if (process.argv[1]?.endsWith("heap_summary.ts")) {
  const { values, positionals } = parseArgs({
    options: { top: { type: "string", default: "30" } },
    allowPositionals: true,
  });
  const file = positionals[0];
  if (!file) {
    console.error("usage: heap_summary.ts FILE.heapsnapshot [--top 30]");
    process.exit(2);
  }
  const { total, byKind, byName } = summarise(JSON.parse(readFileSync(file, "utf8")));
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
}
