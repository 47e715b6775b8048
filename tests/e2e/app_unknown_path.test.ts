/**
 * A path outside `/core` that no endpoint serves is unknown whatever the member's state, as in
 * MicroCluster (its router answers 404 before any endpoint checks the database): a member not
 * yet initialised answered `GET /1.0/nosuch` with its 503 "Database is not yet initialized", so
 * a client that mistyped a path, or asked a member without that app, waited and retried for
 * something that would never come. A known endpoint that cannot serve yet still answers 503.
 * Real daemons, the plain `cohort daemon` (no app endpoints) and the embedded app of
 * `fixtures/embed_app.ts`, asked over the control socket before and after init.
 */
import { resolve } from "node:path";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { appCommand } from "../helpers/app.ts";
import {
  api,
  APP_MIGRATIONS,
  bootstrap,
  daemonArgs,
  type Member,
  newMember,
  startMember,
  stopMembers,
} from "../helpers/cluster.ts";
import { lastLines, startDaemonProcess, waitForSocket } from "../helpers/process.ts";

const APP = resolve(import.meta.dirname ?? ".", "fixtures/embed_app.ts");

interface Ctx {
  plain: Member;
  app: Member;
}

const test = suite<Ctx>(
  "unknown app paths",
  {} as Ctx,
  (ctx) =>
    [ctx.plain, ctx.app].map((m) => m?.daemon ? `${m.name}:\n${lastLines(m.daemon)}` : "")
      .join("\n"),
);

test.before(async (ctx) => {
  const app = await newMember("u2");
  app.daemon = startDaemonProcess(
    daemonArgs(app, { appMigrations: APP_MIGRATIONS }),
    appCommand(APP),
  );
  const [plain] = await Promise.all([
    newMember("u1").then((m) => startMember(m)),
    waitForSocket(app.dir, app.daemon),
  ]);
  Object.assign(ctx, { plain, app });
});

test.after(async (ctx) => {
  await stopMembers([ctx.plain, ctx.app].filter(Boolean));
});

/** `method path` on `m`'s control socket: its status and error message. */
async function ask(m: Member, method: string, path: string): Promise<[number, string]> {
  const r = await api(m, method, path);
  return [r.status, method === "HEAD" ? "" : r.body?.error];
}

const NOT_INIT = "Database is not yet initialized";
const unknown = (path: string): [number, string] => [404, `No endpoint at "${path}"`];

test("before init, a path no endpoint serves is 404 naming it, with app endpoints or none", async (ctx) => {
  for (const m of [ctx.plain, ctx.app]) {
    for (const path of ["/1.0/nosuch", "/nosuch", "/1.0", "/1.0/hello/extra"]) {
      assert.equal(await ask(m, "GET", path), unknown(path), `${m.name} GET ${path}`);
    }
    assert.equal(await ask(m, "POST", "/1.0/nosuch"), unknown("/1.0/nosuch"), m.name);
    assert.equal(await ask(m, "HEAD", "/1.0/nosuch"), [404, ""], m.name);
  }
});

test("before init, a known endpoint answers as its flags say: served, or the member's 503", async (ctx) => {
  const hello = await api(ctx.app, "GET", "/1.0/hello"); // served before init
  assert.is(hello.status, 200, JSON.stringify(hello.body));
  assert.is(hello.body.metadata.status, "uninitialized");
  assert.equal(await ask(ctx.app, "GET", "/1.0/whoami"), [503, NOT_INIT]);
  assert.equal(await ask(ctx.app, "PUT", "/1.0/widgets/w1"), [503, NOT_INIT]);
  // The path is known: until the member serves it, whatever the method, it is not ready.
  assert.equal(await ask(ctx.app, "POST", "/1.0/hello"), [503, NOT_INIT]);
});

test("after init, an unknown path is the same 404 and a known one is served", async (ctx) => {
  await Promise.all([bootstrap(ctx.plain), bootstrap(ctx.app)]);
  for (const m of [ctx.plain, ctx.app]) {
    assert.equal(await ask(m, "GET", "/1.0/nosuch"), unknown("/1.0/nosuch"), m.name);
  }
  const whoami = await api(ctx.app, "GET", "/1.0/whoami");
  assert.is(whoami.status, 200, JSON.stringify(whoami.body));
  const wrong = await api(ctx.app, "POST", "/1.0/hello");
  assert.is(wrong.status, 405);
  assert.is(wrong.body.error, 'Method POST is not allowed on "/1.0/hello"');
});

test.run();
