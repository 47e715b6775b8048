/**
 * The `cohort ui` server on its own: the page's files with their security headers, loopback
 * only, requests for other hosts refused, and the event stream relayed from a control socket that
 * goes away and comes back (the browser's connection stays open throughout).
 */
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseListen, serveUi, type UiServer } from "../../lib/ui/server.ts";
import { removeDir, tempDir } from "../helpers/process.ts";
import { SseReader } from "../helpers/sse.ts";

interface Ctx {
  dir: string;
  socket: string;
  ui: UiServer;
}

const test = suite<Ctx>("cohort ui server");

test.before.each(async (ctx) => {
  ctx.dir = tempDir("cohort-ui-");
  ctx.socket = join(ctx.dir, "control.socket");
  ctx.ui = await serveUi({ socketPath: ctx.socket, listen: "127.0.0.1:0" });
});

test.after.each(async (ctx) => {
  await ctx.ui.close();
  removeDir(ctx.dir);
});

test("the page's three files, with a strict content security policy", async ({ ui }) => {
  assert.match(ui.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  for (
    const [path, type, text] of [
      ["", "text/html", /<script type="module" src="app.js">/],
      ["app.js", "text/javascript", /new EventSource\("events"\)/],
      ["style.css", "text/css", /#matrix/],
    ] as const
  ) {
    const res = await fetch(ui.url + path);
    assert.is(res.status, 200, path);
    assert.ok(res.headers.get("content-type")!.startsWith(type), path);
    assert.match(
      res.headers.get("content-security-policy")!,
      /default-src 'none'; script-src 'self'/,
    );
    assert.is(res.headers.get("x-content-type-options"), "nosniff");
    assert.match(await res.text(), text);
  }
  const missing = await fetch(`${ui.url}index.html/../../../etc/passwd`);
  assert.is(missing.status, 404);
  await missing.body?.cancel();
  const post = await fetch(ui.url, { method: "POST" });
  assert.is(post.status, 405);
  await post.body?.cancel();
});

test("a request naming another host is refused: a page elsewhere cannot rebind a name to it", async ({ ui }) => {
  const port = new URL(ui.url).port;
  const { request } = await import("node:http");
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/events", headers: { host: `evil.example:${port}` } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end();
  });
  assert.is(status, 403);
  const local = await fetch(`http://localhost:${port}/`).catch(() => undefined);
  if (local) { // localhost may resolve to ::1 first, where nothing listens
    assert.is(local.status, 200);
    await local.body?.cancel();
  }
});

test("--listen accepts loopback only", () => {
  assert.equal(parseListen("8001"), { host: "127.0.0.1", port: 8001 });
  assert.equal(parseListen("127.0.0.2:0"), { host: "127.0.0.2", port: 0 });
  assert.equal(parseListen("[::1]:8001"), { host: "::1", port: 8001 });
  assert.equal(parseListen("localhost:8001"), { host: "localhost", port: 8001 });
  for (const bad of ["0.0.0.0:8001", "10.0.0.1:80", "example.org:80", "x", "127.0.0.1:99999"]) {
    assert.throws(() => parseListen(bad), /Invalid listen address/, bad);
  }
  assert.throws(() => parseListen("0.0.0.0:1"), /loopback only/);
  assert.throws(
    () => parseListen("x"),
    /\(or a bare port, on 127\.0\.0\.1\)$/,
    "the rule says both forms",
  );
});

test("--listen takes a loopback address in its one spelling, and refuses one resolvers misread", () => {
  assert.equal(parseListen("LOCALHOST:8001"), { host: "localhost", port: 8001 });
  assert.equal(parseListen("[0:0:0:0:0:0:0:1]:8001"), { host: "::1", port: 8001 });
  assert.equal(parseListen("[::1]:0"), { host: "::1", port: 0 });
  // 127.0.0.010 was listened on as 127.0.0.8 (octal), and its printed URL answered 403.
  for (const bad of ["127.0.0.010:8001", "127.0.0.01:8001", "127.1:8001"]) {
    assert.throws(() => parseListen(bad), /must be an IPv4 address as four numbers/, bad);
  }
  assert.throws(() => parseListen("127.0.0.1:08001"), /port must be a whole number/);
  assert.throws(() => parseListen("[fe80::1%lo]:8001"), /zone index/);
});

test("the event stream is relayed; while the member cannot be reached the browser hears why, and the stream resumes when it is back", async ({ ui, socket }) => {
  const res = await fetch(`${ui.url}events`);
  assert.is(res.status, 200);
  assert.is(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = new SseReader(res.body!);
  const down = await reader.next();
  assert.is(down!.event, "unavailable");
  assert.match(JSON.parse(down!.data).error, /not running/);
  // A member appears on the socket: the relay's next attempt reaches it.
  const member: Server = createServer((req, out) => {
    assert.is(req.url, "/core/control/events");
    out.writeHead(200, { "content-type": "text/event-stream" });
    out.write('retry: 1000\n\nid: 1\nevent: snapshot\ndata: {"member":{"name":"c1"}}\n\n');
    setTimeout(() => out.end(), 50); // and stops
  });
  await new Promise<void>((r) => member.listen(socket, r));
  try {
    let event = await reader.next(5000);
    while (event?.event === "unavailable") event = await reader.next(5000);
    assert.is(event!.event, "snapshot");
    assert.equal(JSON.parse(event!.data), { member: { name: "c1" } });
    const gone = await reader.next(5000);
    assert.is(gone!.event, "unavailable");
    assert.match(JSON.parse(gone!.data).error, /closed the stream/);
    assert.is(reader.ended, false, "the browser's connection stays open");
  } finally {
    await reader.cancel();
    await new Promise((r) => member.close(r));
  }
});

test.run();
