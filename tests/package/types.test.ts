/**
 * cohort's public declarations as an app's compiler sees them: the packed tarball installed in a
 * fresh app whose tsconfig is `strict` without `skipLibCheck`, so every declaration file the app
 * reaches through `import "cohort"` is checked.
 *
 * cohort-test: one runtime (tsc runs in a process of its own, the same whichever runtime drives
 * this file).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { installedApp, ROOT, run } from "../helpers/packed.ts";

const test = suite("public types");

/** A Node app of the usual shape, strict, that checks every library declaration file. */
const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    noEmit: true,
    types: ["node"],
  },
  files: ["app.ts"],
};

/** An app that touches every part of the public API an app uses. */
const APP = `
import {
  compareExtensions,
  createMember,
  isCohortError,
  NotFoundError,
  runCli,
  syncResponse,
  type AppEndpoint,
  type Daemon,
  type DaemonHooks,
  type MemberChange,
  type MemberOptions,
  type ServerInfo,
  type SqlRows,
} from "cohort";

const endpoints: AppEndpoint[] = [{
  method: "GET",
  path: "/1.0/items/:id",
  access: "trusted",
  proxyTarget: true,
  handler: (_request, { member, params, caller }) => {
    if (!params["id"]) throw new NotFoundError("No item");
    return syncResponse({ id: params["id"], on: member.info().name, via: caller.transport });
  },
}];

const hooks: DaemonHooks = {
  postBootstrap: ({ daemon, config }) => console.log(daemon.info().name, config),
  onNewMember: ({ name }) => console.log("joined", name),
};
const options: MemberOptions = {
  stateDir: "/tmp/app",
  extensions: ["app_feature"],
  appVersion: "1.0.0",
  hooks,
  endpoints,
  servers: { web: { address: "127.0.0.1:9443", endpoints } },
};
export async function main(): Promise<void> {
  const member: Daemon = await createMember(options);
  const info: ServerInfo = member.info();
  const verdict: string = compareExtensions(info.extensions, ["app_feature"]).verdict;
  const shared: boolean = member.hasExtension("app_feature", { scope: "cluster" });
  const off = member.on("upgrade-opened", (payload) => console.log(payload));
  off();
  const joined = member.on("member-join", (e: MemberChange) => console.log(e.name, e.previous));
  joined();
  const rows: SqlRows = await member.sql("SELECT * FROM items WHERE id = ?", ["a"]);
  const db: { tag: string } = member.database((client) => ({ tag: String(client) }));
  console.log(verdict, shared, member.status(), rows.rows.length, db.tag);
  await member.stop();
  await member.closed;
}
export function isCohort(err: unknown): boolean {
  return isCohortError(err) && err.code.length > 0;
}
export const cli: (argv: string[]) => Promise<number> = (argv) =>
  runCli(argv, {
    startDaemon: (o) => createMember({ stateDir: o.stateDir }),
    stdout: process.stdout,
    stderr: process.stderr,
  });
`;

test("a strict app without skipLibCheck type-checks against the packed declarations", async () => {
  // In a folder of its own inside the app: a tsconfig.json at the app's root would be read by
  // Deno too, in the Deno app test.
  const dir = join(await installedApp(), "tsc-app");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
  writeFileSync(join(dir, "app.ts"), APP);
  const tsc = await run("node", [
    join(ROOT, "node_modules", "typescript", "bin", "tsc"),
    "-p",
    join(dir, "tsconfig.json"),
  ], { cwd: dir });
  assert.is(tsc.stdout + tsc.stderr, "", "tsc reports nothing");
  assert.is(tsc.code, 0);
});

/** Every bare module specifier the declarations reachable from `dist/mod.d.ts` import. */
function reachableImports(pkg: string): Map<string, string[]> {
  const seen = new Set<string>();
  const bare = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    // Comments may name modules too ({@link import("./x.ts").y}): only code counts.
    const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(
      /^\s*\/\/.*$/gm,
      "",
    );
    for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
      if (spec.startsWith(".")) {
        const target = resolve(dirname(file), spec).replace(/\.(ts|js)$/, "");
        visit(`${target}.d.ts`);
      } else {
        bare.set(spec, [...(bare.get(spec) ?? []), relative(pkg, file)]);
      }
    }
  };
  visit(join(pkg, "dist", "mod.d.ts"));
  return bare;
}

test("the public declarations import no heavy dependency's types (drizzle, libSQL, ws, x509, itty)", async () => {
  const dir = await installedApp();
  const bare = reachableImports(join(dir, "node_modules", "cohort"));
  for (const heavy of ["drizzle-orm", "@libsql/client", "ws", "@peculiar/x509", "itty-router"]) {
    const users = [...bare].filter(([spec]) => spec === heavy || spec.startsWith(`${heavy}/`));
    assert.equal(users, [], `${heavy} is not part of the public types`);
  }
  assert.ok(readdirSync(join(dir, "node_modules", "cohort", "dist")).includes("mod.d.ts"));
});

test.run();
