/**
 * A request that arrived while the member's event loop was held (a stalled machine, a member
 * stopped with SIGSTOP, a long task) is answered once the loop runs again, not reset unread.
 * Found by the soak benchmark (`scripts/bench/soak.ts`): `cohort metrics` sent just as its
 * member was stopped for 20 s failed with ECONNRESET when the member went on, because the new
 * connection's head deadline (10 s) ran before the request bytes waiting in the socket were
 * read. Played in one process: the connection is accepted, then the loop is held past the
 * deadline right after the request is written.
 */
import { stat } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { serveUnix } from "../../lib/net/serve.ts";
import { tempDir } from "./_helpers.ts";

const test = suite("a request that arrived while the loop was held");

const limits = { headersTimeoutMs: 200 };
const handler = () => Promise.resolve(new Response("ok"));

test("is answered once the loop runs again", async () => {
  const { dir, cleanup } = await tempDir();
  const listener = await serveUnix({ path: join(dir, "s.sock"), handler, limits });
  try {
    const socket = connect(listener.address);
    let answer = "";
    socket.on("data", (d) => (answer += d));
    const closed = new Promise<string>((done) => {
      socket.on("error", (err) => done(`error: ${(err as Error).message}`));
      socket.on("close", () => done("closed"));
    });
    await new Promise((r) => socket.once("connect", r));
    // The listener accepts the connection (and starts its head deadline) in the next turns.
    await new Promise((r) => setTimeout(r, 50));
    // Held in an I/O callback, as a stopped member mostly is when it is not idle: the loop
    // then runs its expired timers before it reads the sockets again.
    await new Promise<void>((done) =>
      stat(dir, () => {
        socket.write("GET /x HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n");
        const until = performance.now() + 3 * limits.headersTimeoutMs;
        while (performance.now() < until) { /* the loop is held */ }
        done();
      })
    );
    const how = await closed;
    assert.match(answer, /^HTTP\/1\.1 200 /, `no answer (${how})`);
  } finally {
    await listener.close();
    await cleanup();
  }
});

test.run();
