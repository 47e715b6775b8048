/**
 * Explains the `dead` verdicts of a fault run from the member logs it kept
 * (`scripts/faults/run.ts loss --log-dir DIR`): for each member declared dead, the timeline of
 * what every member logged about it (and what it logged itself: refutations, connections lost
 * or unresponsive) from `--before` seconds before the verdict to `--after` seconds after.
 *
 * Usage: `npx tsx scripts/faults/explain.ts DIR [--before 30] [--after 5] [--all]`
 * (`--all`: every line of every member in the window, not only those about the accused).
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    before: { type: "string", default: "30" },
    after: { type: "string", default: "5" },
    all: { type: "boolean", default: false },
  },
});
const dir = positionals[0];
if (!dir) {
  console.error("Usage: npx tsx scripts/faults/explain.ts DIR [--before 30] [--after 5] [--all]");
  process.exit(2);
}
const before = Number(values.before) * 1000;
const after = Number(values.after) * 1000;

interface Line {
  who: string;
  time: number;
  msg: string;
  fields: Record<string, unknown>;
}

const lines: Line[] = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith(".log"))) {
  const who = basename(file, ".log");
  for (const text of readFileSync(join(dir, file), "utf8").split("\n")) {
    if (!text.startsWith("{")) continue;
    try {
      const l = JSON.parse(text) as Record<string, unknown>;
      lines.push({ who, time: Number(l.time), msg: String(l.msg), fields: l });
    } catch { /* a line cut short */ }
  }
}
lines.sort((a, b) => a.time - b.time);
const t0 = lines[0]?.time ?? 0;
const at = (t: number) => ((t - t0) / 1000).toFixed(3).padStart(8);

const SKIP = new Set(["level", "time", "msg", "component", "member_name", "name"]);
function describe(l: Line): string {
  const f = Object.entries(l.fields)
    .filter(([k, v]) => !SKIP.has(k) && v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" ");
  return `${at(l.time)} ${l.who.padEnd(4)} ${l.msg} ${f}`;
}

const verdicts = lines.filter((l) => l.msg.includes("declaring the member dead"));
if (verdicts.length === 0) console.log("No member was declared dead.");
for (const v of verdicts) {
  const accused = String(v.fields.member);
  console.log(
    `\n=== ${v.who} declared ${accused} dead at ${at(v.time)} s (${
      v.fields.confirmations ?? "refusal"
    } confirmations) ===`,
  );
  for (const l of lines) {
    if (l.time < v.time - before || l.time > v.time + after) continue;
    const about = l.who === accused || l.fields.member === accused ||
      String(l.fields.to ?? l.fields.from ?? l.fields.address ?? "").length > 0;
    if (values.all || about || l === v) console.log(describe(l));
  }
}
