/**
 * cohort as a Deno module: the repository type-checks under Deno, `deno publish` accepts it, and
 * a Deno app outside the repository imports cohort and runs a member, both ways the README
 * documents (a package.json dependency on the npm package; `links` to a checkout).
 *
 * cohort-test: one runtime (every check runs the deno binary in a process of its own, the same
 * whichever runtime drives this file).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { freePort } from "../helpers/process.ts";
import { installedApp, ROOT, type Run, run, scratchDir } from "../helpers/packed.ts";

const test = suite("deno module");
const deno = join(ROOT, "node_modules", ".bin", "deno");
const denoJson = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
const packageJson = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

test("deno check of the whole repository (mod.ts, tests, scripts) reports nothing", async () => {
  const result = await run(deno, ["check", "--quiet", "."]);
  assert.is(result.stderr, "", "no diagnostics");
  assert.is(result.code, 0);
});

test("deno publish --dry-run passes (slow types included) and would publish the module only", async () => {
  // --allow-dirty: a developer's tree has uncommitted files; CI's clone has none. --no-check:
  // publish's type check covers the module's graph from mod.ts with deno.json's options, which
  // the test before this one (`deno check .`, every file) checked already; it would take 7 s of
  // CPU to say so again. The slow-types check runs with it (a missing return type still fails).
  const result = await run(deno, ["publish", "--dry-run", "--allow-dirty", "--no-check"]);
  const output = result.stdout + result.stderr;
  assert.is(result.code, 0, output);
  assert.not.match(output, /warning/i);
  assert.match(output, `Simulating publish of ${denoJson.name}@${packageJson.version}`);
  const files = [...output.matchAll(/file:\/\/\S+/g)].map((m) =>
    m[0].slice(`file://${ROOT}/`.length)
  );
  assert.ok(files.includes("mod.ts") && files.includes("LICENSE"), files.join(" "));
  for (const file of files) {
    assert.ok(
      /^(mod\.ts|README\.md|LICENSE|deno\.json|(lib|routes|gossip)\/.+)$/.test(file),
      `${file} is part of the module`,
    );
    assert.not.match(file, /\.test\.ts$/);
  }
});

test("deno.json names the package version and every npm dependency with package.json's range", () => {
  assert.is(denoJson.version, packageJson.version);
  assert.is(denoJson.exports, "./mod.ts");
  assert.is(denoJson.license, packageJson.license);
  const expected: Record<string, string> = {};
  for (const [name, range] of Object.entries(packageJson.dependencies as Record<string, string>)) {
    expected[name] = `npm:${name}@${range}`;
  }
  const mapped = Object.fromEntries(
    Object.entries(denoJson.imports as Record<string, string>).filter(([k]) => !k.endsWith("/")),
  );
  assert.equal(mapped, expected);
  for (const [prefix, target] of Object.entries(denoJson.imports as Record<string, string>)) {
    if (!prefix.endsWith("/")) continue;
    const name = prefix.slice(0, -1);
    assert.is(target, `npm:/${name}@${packageJson.dependencies[name]}/`, prefix);
  }
});

/** A Deno program that starts a member, bootstraps it and prints what it sees. */
const MEMBER = (specifier: string) => `
import { createMember } from "${specifier}";
const [stateDir, port] = Deno.args;
const member = await createMember({ stateDir, extensions: ["app_feature"] });
try {
  await member.initialize({ bootstrap: true, name: "d1", address: \`127.0.0.1:\${port}\` });
  const members = await member.clusterMembers();
  console.log(JSON.stringify({ info: member.info(), members: members.map((m) => [m.name, m.status]) }));
} finally {
  await member.stop();
}
`;

/**
 * `deno check` of the app in `dir`, which downloads cohort's npm dependencies on a machine whose
 * Deno cache lacks them: a registry that fails one download (seen once on a loaded machine with
 * an empty cache: "Failed loading https://registry.npmjs.org/itty-router") is asked again, twice
 * at most, as a user would run the command again; any other failure is the test's.
 */
async function denoCheck(dir: string): Promise<Run> {
  for (let attempt = 1;; attempt++) {
    const check = await run(deno, ["check", "--quiet", "main.ts"], { cwd: dir });
    if (attempt === 3 || !/Failed loading https:\/\/registry\./.test(check.stderr)) return check;
    console.error(
      `deno check: the registry failed a download (attempt ${attempt}): ${check.stderr.trim()}`,
    );
    await new Promise((r) => setTimeout(r, 2000 * attempt));
  }
}

async function runsMember(dir: string): Promise<void> {
  const check = await denoCheck(dir);
  assert.is(check.stderr, "", "deno check of the app");
  assert.is(check.code, 0);
  const port = await freePort();
  const result = await run(deno, [
    "run",
    "-A",
    "main.ts",
    scratchDir("cohort-deno-state-"),
    `${port}`,
  ], {
    cwd: dir,
    env: { COHORT_LOG_LEVEL: "warn" },
  });
  assert.is(result.code, 0, result.stderr);
  const seen = JSON.parse(result.stdout.trim().split("\n").pop()!);
  assert.equal(seen.info, {
    name: "d1",
    address: `127.0.0.1:${port}`,
    version: "0.0.0",
    ready: true,
    extensions: ["internal:runtime_extension_v1", "app_feature"],
  });
  assert.equal(seen.members, [["d1", "ONLINE"]]);
}

test("a Deno app with a package.json dependency on the packed tarball runs a member", async () => {
  const dir = await installedApp();
  writeFileSync(join(dir, "main.ts"), MEMBER("cohort"));
  await runsMember(dir);
});

test("a Deno app whose deno.json links a checkout of cohort runs a member from the sources", async () => {
  const dir = scratchDir("cohort-deno-link-");
  writeFileSync(join(dir, "deno.json"), JSON.stringify({ links: [ROOT] }, null, 2));
  writeFileSync(join(dir, "main.ts"), MEMBER(denoJson.name));
  await runsMember(dir);
});

test.run();
