/**
 * The example app (`examples/notes`) as its developer meets it: cohort packed with `npm pack`,
 * installed from the tarball into a fresh app directory holding the example, built there with
 * `tsc`, and run as a cluster of three members (two under Node, one under Deno), then rolled to
 * release 2 member by member. Every request goes to the members' real listeners: the control
 * socket, or HTTPS with a member's certificate, a foreign one, or none.
 *
 * cohort-test: one runtime (npm, tsc and the members run in processes of their own, the same
 * whichever runtime drives this file).
 */
// deno-lint-ignore-file no-explicit-any
import type { ChildProcess } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { requestJson } from "../../lib/net/client.ts";
import { generateCertificate } from "../../lib/net/certificates.ts";
import { eventually } from "../helpers/cluster.ts";
import { expectOk, packTarball, ROOT, run, scratchDir } from "../helpers/packed.ts";
import { freePort, spawnTracked } from "../helpers/process.ts";

const test = suite("example app from the packed tarball");
const EXAMPLE = join(ROOT, "examples", "notes");
const DENO = join(ROOT, "node_modules", ".bin", "deno");
const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;

/** One member of the example's cluster. */
interface Notes {
  name: string;
  runtime: "node" | "deno";
  dir: string;
  port: number;
  address: string;
  child?: ChildProcess;
  logs: string;
  exited?: Promise<number>;
}

let app = "";
const members: Notes[] = [];

/** Copies the example into a fresh app directory and installs cohort there from the tarball. */
async function installExample(): Promise<string> {
  const tarball = await packTarball();
  const dir = scratchDir("cohort-notes-app-");
  cpSync(EXAMPLE, dir, {
    recursive: true,
    // What a developer's own install and build left in the checkout stays there.
    filter: (src) => !/[/\\](node_modules|dist|package-lock\.json)$/.test(src),
  });
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  manifest.dependencies.cohort = `file:${tarball.file}`;
  // What the members need: the build's compiler and Node's types. drizzle-kit (migrations are
  // committed) and deno (the repository's binary runs the Deno member) are left out.
  manifest.devDependencies = {
    typescript: manifest.devDependencies.typescript,
    "@types/node": manifest.devDependencies["@types/node"],
  };
  writeFileSync(join(dir, "package.json"), JSON.stringify(manifest, null, 2));
  expectOk(
    "npm install",
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: dir }),
  );
  return dir;
}

/** Starts `m` with `release` of the example (`node dist/vN.js` or `deno run -A src/vN.ts`). */
function start(m: Notes, release: 1 | 2): Promise<void> {
  if (!app) throw new Error("The example is not installed: see the first test's failure");
  const [command, args] = m.runtime === "node"
    ? ["node", [`dist/v${release}.js`]]
    : [DENO, ["run", "-A", `src/v${release}.ts`]];
  m.logs = "";
  const child = spawnTracked(command, [...args, "--state-dir", m.dir, "--gossip-preset", "local"], {
    cwd: app,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NO_COLOR: "1", COHORT_LOG_LEVEL: "info" },
  });
  child.stderr!.on("data", (d) => (m.logs += d));
  m.child = child;
  m.exited = new Promise((done) => child.on("close", (code) => done(code ?? -1)));
  return eventually(`${m.name}'s control socket`, async () => {
    if (child.exitCode !== null) throw new Error(`${m.name} exited:\n${m.logs}`);
    return (await control(m, "GET", "/core/1.0")).status === 200;
  }, 60_000).then(() => {});
}

/** Stops the process of `m` with SIGTERM (by PID) and resolves with its exit code. */
async function stop(m: Notes): Promise<number> {
  const child = m.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? -1;
  process.kill(child.pid!, "SIGTERM");
  const timer = setTimeout(() => child.exitCode === null && child.kill("SIGKILL"), 15_000);
  const code = await m.exited!;
  clearTimeout(timer);
  return code;
}

/** A request over the control socket of `m`. */
async function control(m: Notes, method: string, path: string, body?: unknown): Promise<any> {
  return await requestJson({
    method,
    path,
    body,
    socketPath: join(m.dir, "control.socket"),
    timeoutMs: 20_000,
  });
}

/** A request to the HTTPS address of `m`, presenting `identity` as client certificate. */
function https(
  m: Notes,
  method: string,
  path: string,
  identity?: { cert: string; key: string },
): Promise<{ status: number; body: any }> {
  return new Promise((done, fail) => {
    const req = httpsRequest({
      host: "127.0.0.1",
      port: m.port,
      method,
      path,
      // The member's own certificate is not what this test checks: the client's is.
      rejectUnauthorized: false,
      ...identity,
      agent: false,
      timeout: 20_000,
    }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        try {
          done({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch (err) {
          fail(err);
        }
      });
      res.on("error", fail);
    });
    req.on("error", fail);
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.end();
  });
}

/** The JSON log lines the current process of `m` wrote. */
function logLines(m: Notes): any[] {
  return m.logs.split("\n").flatMap((text) => {
    try {
      return [JSON.parse(text)];
    } catch {
      return [];
    }
  });
}

/** A member's own certificate and key: what a trusted client presents. */
function identityOf(m: Notes): { cert: string; key: string } {
  return {
    cert: readFileSync(join(m.dir, "server.crt"), "utf8"),
    key: readFileSync(join(m.dir, "server.key"), "utf8"),
  };
}

/** The metadata of a 200 answer; fails with the error envelope otherwise. */
function ok(res: { status: number; body: any }, what: string): any {
  assert.is(res.status, 200, `${what}: ${JSON.stringify(res.body)}`);
  assert.is(res.body.type, "sync", what);
  return res.body.metadata;
}

/** `cohort <args>` with the command installed in the app (its `node_modules/.bin` link). */
function cohortCli(args: string[], input?: string) {
  return run(join(app, "node_modules", ".bin", "cohort"), args, { cwd: app, input });
}

/** Waits until every member lists every member ONLINE with `extensions` app extensions. */
function allOnline(extensions: number): Promise<void> {
  return eventually(`every member ONLINE with ${extensions} app extensions`, async () => {
    for (const m of members) {
      const list = ok(await control(m, "GET", "/core/1.0/cluster"), "cluster");
      const seen = list.map((e: any) => `${e.name}:${e.status}:${e.extensions.length - 1}`);
      const want = members.map((x) => `${x.name}:ONLINE:${extensions}`);
      if (seen.join() !== want.join()) throw new Error(`${m.name} sees ${seen}`);
    }
    return true;
  }, 30_000).then(() => {});
}

/** What `GET /1.0/status` says on every member. */
async function statuses(): Promise<any[]> {
  return await Promise.all(
    members.map(async (m) => ok(await control(m, "GET", "/1.0/status"), m.name)),
  );
}

test.after(async () => {
  await Promise.all(members.map((m) => stop(m).catch(() => -1)));
});

test("the example installs from the packed tarball: npx cohort --version, tsc and deno check pass", async () => {
  app = await installExample();
  const result = await run("npx", ["--no-install", "cohort", "--version"], { cwd: app });
  assert.is(result.stderr, "");
  assert.is(result.stdout, `${version}\n`);
  assert.is(result.code, 0);
  // Node runs the compiled example, Deno its sources: both type-check against the package.
  const [build, check] = await Promise.all([
    run("npx", ["--no-install", "tsc", "-p", "tsconfig.json"], { cwd: app }),
    run(DENO, ["check", "--quiet", "src/v1.ts", "src/v2.ts"], { cwd: app }),
  ]);
  assert.is(build.stdout + build.stderr, "", "tsc of the example, strict");
  assert.is(build.code, 0);
  assert.is(check.stderr, "", "deno check of the example");
  assert.is(check.code, 0);
});

test("three members of release 1, two under Node and one under Deno, form a cluster", async () => {
  for (const [name, runtime] of [["n1", "node"], ["n2", "node"], ["n3", "deno"]] as const) {
    const port = await freePort();
    members.push({
      name,
      runtime,
      dir: scratchDir(`cohort-notes-${name}-`),
      port,
      address: `127.0.0.1:${port}`,
      logs: "",
    });
  }
  await Promise.all(members.map((m) => start(m, 1)));
  const [n1, ...others] = members;
  expectOk(
    "init n1",
    await cohortCli(["init", n1.name, n1.address, "--bootstrap", "--state-dir", n1.dir]),
  );
  for (const m of others) {
    const token = expectOk(
      `tokens add ${m.name}`,
      await cohortCli(["tokens", "add", m.name, "--state-dir", n1.dir]),
    ).stdout.trim();
    expectOk(
      `init ${m.name}`,
      await cohortCli(["init", m.name, m.address, "--token", "-", "--state-dir", m.dir], token),
    );
  }
  await allOnline(2);
  for (const s of await statuses()) {
    assert.equal(
      [s.release, s.app_version, s.features],
      [1, "1.0.0", { tags: false }],
      s.member,
    );
  }
});

test("notes are kept per member; ?target= has another member answer", async () => {
  const trusted = identityOf(members[0]);
  for (const m of members) {
    const note = ok(
      await control(m, "POST", "/1.0/notes", { text: `written on ${m.name}` }),
      `POST /1.0/notes on ${m.name}`,
    );
    assert.is(note.text, `written on ${m.name}`);
  }
  for (const m of members) {
    // Over HTTPS with a member's certificate, as another member's app would call it.
    const list = ok(await https(m, "GET", "/1.0/notes", trusted), `notes of ${m.name}`);
    assert.equal(list.map((n: any) => n.text), [`written on ${m.name}`]);
  }
  const [n1, n2, n3] = members;
  // n1 answers for n3, and stores for n2, over the members' mutual TLS.
  const forwarded = ok(await https(n1, "GET", "/1.0/notes?target=n3", trusted), "?target=n3");
  assert.equal(forwarded.map((n: any) => n.text), ["written on n3"]);
  ok(
    await control(n1, "POST", "/1.0/notes?target=n2", { text: "sent through n1" }),
    "POST ?target=n2",
  );
  const onN2 = ok(await control(n2, "GET", "/1.0/notes"), "notes of n2");
  assert.equal(onN2.map((n: any) => n.text), ["sent through n1", "written on n2"]);
  const onN1 = ok(await control(n1, "GET", "/1.0/notes"), "notes of n1");
  assert.equal(onN1.map((n: any) => n.text), ["written on n1"]);
  for (const m of members) {
    const status = ok(await control(n3, "GET", `/1.0/status?target=${m.name}`), m.name);
    assert.is(status.member, m.name);
  }
  const unknown = await control(n1, "GET", "/1.0/notes?target=nobody");
  assert.ok(unknown.status >= 400 && unknown.status < 500, JSON.stringify(unknown.body));
  assert.is(unknown.body.type, "error");
});

test("a board entry written on one member is read on every other (replicated records)", async () => {
  const [n1, n2, n3] = members;
  const entry = ok(
    await control(n2, "PUT", "/1.0/board/motd", { text: "maintenance at noon" }),
    "PUT /1.0/board/motd",
  );
  assert.equal(entry, { text: "maintenance at noon", by: "n2" });
  for (const m of [n1, n3]) {
    const seen = await eventually(`the board entry on ${m.name}`, async () => {
      const res = await control(m, "GET", "/1.0/board/motd");
      return res.status === 200 ? res.body.metadata : undefined;
    }, 15_000);
    assert.equal(seen, entry, m.name);
  }
  const board = ok(await https(n3, "GET", "/1.0/board", identityOf(n1)), "board of n3");
  assert.equal(board, { motd: entry });
});

test("an untrusted client is refused on the trusted endpoints, and the open one answers it", async () => {
  const [n1, n2] = members;
  const foreign = await generateCertificate({ name: "intruder", addresses: ["127.0.0.1"] });
  const clients = [["no certificate", undefined], [
    "a foreign certificate",
    { cert: foreign.cert, key: foreign.key },
  ]] as const;
  for (const [who, identity] of clients) {
    for (const path of ["/1.0/notes", "/1.0/notes?target=n2", "/1.0/board/motd"]) {
      const res = await https(n1, "GET", path, identity);
      assert.is(res.status, 403, `${path} with ${who}: ${JSON.stringify(res.body)}`);
      assert.is(res.body.type, "error");
    }
    const put = await https(n1, "PUT", "/1.0/board/motd", identity);
    assert.is(put.status, 403, `PUT with ${who}`);
    const status = ok(await https(n2, "GET", "/1.0/status", identity), `open status with ${who}`);
    assert.is(status.member, "n2");
  }
  const motd = ok(await control(n1, "GET", "/1.0/board/motd"), "motd unchanged");
  assert.is(motd.text, "maintenance at noon");
});

test("rolled to release 2 member by member, tags switch on only when the last member runs it", async () => {
  for (const [i, m] of members.entries()) {
    assert.is(await stop(m), 0, `${m.name} stops cleanly:\n${m.logs}`);
    await start(m, 2);
    // Up everywhere, with its new version: members that differ are listed as UPGRADING (ahead)
    // or NEEDS UPGRADE (behind) until the roll is complete.
    await eventually(`${m.name} up on release 2 in every member's list`, async () => {
      for (const x of members) {
        const list = ok(await control(x, "GET", "/core/1.0/cluster"), "cluster");
        const seen = list.map((e: any) => `${e.name}:${e.status}:${e.app_version}`);
        const up = list.length === 3 &&
          list.every((e: any) => ["ONLINE", "UPGRADING", "NEEDS UPGRADE"].includes(e.status)) &&
          list.find((e: any) => e.name === m.name)?.app_version === "2.0.0";
        if (!up) throw new Error(`${x.name} sees ${seen}`);
      }
      return true;
    }, 30_000);
    if (i < members.length - 1) {
      // Every member is up, one of them still runs release 1: tags stay off everywhere.
      for (const s of await statuses()) {
        assert.is(s.features.tags, false, `${s.member} with ${i + 1} of 3 members on release 2`);
      }
      const refused = await control(m, "POST", "/1.0/notes", { text: "early", tags: ["roll"] });
      assert.is(refused.status, 409, JSON.stringify(refused.body));
      assert.match(refused.body.error, "notes_tags");
      const plain = ok(await control(m, "POST", "/1.0/notes", { text: "untagged" }), "no tags");
      assert.equal(plain.tags, []);
    }
  }
  // The app hears the switch as a typed event of its member, once (the last member hears it
  // too, or starts with tags on).
  for (const m of members) {
    await eventually(`${m.name} logs that tags are on`, () =>
      Promise.resolve(
        logLines(m).some((l) =>
          l.msg.startsWith("Tags switched on") || (l.msg === "Notes started" && l.tags === true)
        ),
      ));
    assert.ok(logLines(m).filter((l) => l.msg.startsWith("Tags switched on")).length <= 1, m.name);
  }
  await allOnline(3);
  await eventually("tags on every member", async () => {
    return (await statuses()).every((s) => s.release === 2 && s.features.tags === true);
  }, 30_000);
  const [n1, n2, n3] = members;
  const tagged = ok(
    await control(n1, "POST", "/1.0/notes?target=n3", { text: "tagged", tags: ["roll"] }),
    "a tagged note through n1 onto n3 (Deno)",
  );
  assert.equal(tagged.tags, ["roll"]);
  const found = ok(await control(n3, "GET", "/1.0/notes?tag=roll"), "notes tagged roll on n3");
  assert.equal(found.map((n: any) => n.text), ["tagged"]);
  // Release 1's notes survived the migration, with no tags.
  const old = ok(await control(n2, "GET", "/1.0/notes"), "notes of n2");
  assert.equal(old.map((n: any) => [n.text, n.tags]), [
    ["untagged", []],
    ["sent through n1", []],
    ["written on n2", []],
  ]);
  const entry = ok(
    await control(n3, "PUT", "/1.0/board/release", { text: "all on 2", tags: ["roll"] }),
    "a tagged board entry",
  );
  const seen = await eventually("the tagged entry on n1", async () => {
    const res = await control(n1, "GET", "/1.0/board/release");
    return res.status === 200 ? res.body.metadata : undefined;
  });
  assert.equal(seen, entry);
  for (const e of ok(await control(n2, "GET", "/core/1.0/cluster"), "cluster")) {
    assert.is(e.schema_external_version, 2, `${e.name} applied release 2's migration`);
    assert.is(e.extensions.at(-1), "notes_tags", e.name);
  }
});

test("every member stops cleanly", async () => {
  for (const m of members) assert.is(await stop(m), 0, `${m.name}:\n${m.logs}`);
});

test.run();
