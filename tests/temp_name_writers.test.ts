/**
 * Every atomic write in `lib/` names its temporary with `tempName` (lib/temp_name.ts): a start
 * removes only the temporaries it can read back, so a writer spelling its own would leave files
 * in the state directory that nobody ever removes (`servers.json.tmp` was one).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const test = suite("temporary names in lib/");

const root = join(import.meta.dirname!, "..");

/** Modules that may spell a temporary: the namer, and the seam whose `rename` the writers call. */
const OWN = new Set(["lib/temp_name.ts", "lib/files.ts"]);

/**
 * Renames and links that move no temporary, each with why: a join prepares `daemon.json.next`
 * and its own flow commits or removes it (`flows/join.ts`).
 */
const NOT_TEMPORARY = new Set([
  "lib/daemon/join_config.ts: renameSync(preparedPath(paths), paths.config)",
]);

/** Top-level arguments of the call whose text starts right after its `(`. */
function args(text: string, from: number): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = from;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if ((c === ")" || c === "]" || c === "}") && depth-- === 0) {
      out.push(text.slice(start, i).trim());
      return out;
    } else if (c === "," && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  return out;
}

/** What in module `file` (its `source`) names a temporary outside `tempName`. */
function temporaryProblems(file: string, source: string): string[] {
  if (OWN.has(file)) return [];
  // Code only: prose about a rename is no rename (a `//` inside a string goes too: harmless).
  const text = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
  const problems: string[] = [];
  // A temporary's suffix or a pid in a file name, spelled here.
  for (const m of text.matchAll(/["'`][^"'`\n]*(?:\.tmp\b|\.\$\{process\.pid\})[^"'`\n]*["'`]/g)) {
    problems.push(`${file}: spells a temporary: ${m[0]}`);
  }
  // Every rename or link moves a temporary named by tempName, or is listed as moving none.
  const fromNamer = new Set(
    [...text.matchAll(/\b(?:const|let)\s+(\w+)\s*=\s*tempName\(/g)].map((m) => m[1]),
  );
  for (const m of text.matchAll(/\b(rename|renameSync|link|linkSync)\s*\(/g)) {
    const list = args(text, m.index! + m[0].length);
    const call = `${file}: ${m[1]}(${list.join(", ")})`;
    if (list.some((a) => fromNamer.has(a) || a.startsWith("tempName("))) continue;
    if (!NOT_TEMPORARY.has(call)) problems.push(`${call} moves a file not named by tempName`);
  }
  return problems;
}

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

test("no module of lib/ names a temporary file itself", () => {
  const problems = sources(join(root, "lib")).flatMap((path) =>
    temporaryProblems(relative(root, path), readFileSync(path, "utf8"))
  );
  assert.equal(problems, []);
});

test("the check finds each way a writer named its temporary before lib/temp_name.ts", () => {
  const earlier = {
    "a.ts": "await writeFile(`${path}.tmp`, text);\nawait rename(`${path}.tmp`, path);",
    "b.ts": "const tmp = `${paths.config}.${process.pid}.forget`;\nrenameSync(tmp, paths.config);",
    "c.ts": "const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;",
    "d.ts": "const aside = join(dir, name + '.new');\nlinkSync(aside, paths.lock);",
  };
  for (const [file, text] of Object.entries(earlier)) {
    assert.ok(temporaryProblems(file, text).length > 0, text);
  }
  const now = "const tmp = tempName(target);\nawait files().rename(tmp, target);";
  assert.equal(temporaryProblems("e.ts", now), []);
});

test.run();
