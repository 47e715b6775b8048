/**
 * How long a connection idle after an answer stays open, against serveHttps and serveUnix: the
 * listener's limits say (`headersTimeoutMs`). node:http's own keep-alive timeout (5 s, Node and
 * Deno alike) used to close it first: net/member_limits, which keeps 135 member connections open
 * while it opens them (limits of 120 s), found 4 closed on a loaded machine. Assertions are about
 * closes, never about how long anything took.
 */
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jsonResponse } from "../../lib/net/json_response.ts";
import { serveHttps, serveUnix } from "../../lib/net/serve.ts";
import {
  head,
  type RawConnection,
  tlsConnection,
  unixConnection,
  within,
} from "../helpers/raw_http.ts";
import { keyPair, tempDir } from "./_helpers.ts";

/** Past node:http's default keep-alive timeout (5 s), far within the limits below (60 s). */
const IDLE_MS = 6500;
const limits = { headersTimeoutMs: 60_000 };
const handler = () => Promise.resolve(jsonResponse('{"ok":true}', 200));

const test = suite("keep-alive connections");
const opened: RawConnection[] = [];
test.after.each(() => {
  for (const c of opened.splice(0)) c.socket.destroy();
});

/** One request on `c`, then `IDLE_MS` idle, then a second request: both statuses. */
async function twoRequests(c: RawConnection): Promise<{ first: number; second: number }> {
  opened.push(c);
  await within(c.ready, 20_000, "connection");
  c.socket.write(head("GET", "/"));
  const first = (await within(c.answer, 20_000, "answer")).status;
  let closed = false;
  void c.closed.then(() => (closed = true));
  await new Promise((r) => setTimeout(r, IDLE_MS));
  assert.not.ok(closed, `closed after ${IDLE_MS} ms idle, before the limits' 60 s`);
  const next = new Promise<number>((resolve) => {
    let text = "";
    c.socket.on("data", (d) => {
      text += d;
      const status = /HTTP\/1\.1 (\d{3})[^]*\r\n\r\n\{"ok":true\}/.exec(text)?.[1];
      if (status) resolve(Number(status));
    });
    c.socket.once("close", () => resolve(0));
  });
  c.socket.write(head("GET", "/"));
  return { first, second: await within(next, 20_000, "second answer") };
}

test("HTTPS: a connection idle after an answer stays open for the head timeout, then serves again", async () => {
  const listener = await serveHttps({
    host: "127.0.0.1",
    port: 0,
    ...(await keyPair("keep-alive")),
    handler,
    limits,
  });
  try {
    assert.equal(await twoRequests(tlsConnection(listener.port!)), { first: 200, second: 200 });
  } finally {
    await listener.close();
  }
});

test("control socket: the same", async () => {
  const { dir, cleanup } = await tempDir();
  const listener = await serveUnix({ path: join(dir, "s.sock"), handler, limits });
  try {
    assert.equal(await twoRequests(unixConnection(listener.address)), { first: 200, second: 200 });
  } finally {
    await listener.close();
    await cleanup();
  }
});

test.run();
