/**
 * An answer that arrived in time while the client's event loop was held (a CLI or a member
 * stopped and continued, a VM paused, swapping, a long task) is read, not reported as "no
 * answer": a held loop runs its expired timers before it reads the sockets again, and the
 * client's deadline then must look once more (`lib/net/late_deadline.ts`). Played in one
 * process: a raw server writes the answer, then holds the loop past the client's deadline
 * inside that I/O callback.
 */
import { createServer } from "node:net";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { requestJson } from "../../lib/net/client.ts";
import { tempDir } from "./_helpers.ts";

const test = suite("an answer that arrived while the client's loop was held");

const TIMEOUT_MS = 200;
const ANSWER = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n" +
  'Connection: close\r\n\r\n{"ok":true}';

test("is read", async () => {
  const { dir, cleanup } = await tempDir();
  const path = join(dir, "s.sock");
  const server = createServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => {
      socket.end(ANSWER);
      const until = performance.now() + 3 * TIMEOUT_MS;
      while (performance.now() < until) { /* the loop is held */ }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  try {
    const answer = await requestJson({
      method: "GET",
      path: "/x",
      socketPath: path,
      timeoutMs: TIMEOUT_MS,
    }).catch((err: Error) => err.message);
    assert.equal(answer, { status: 200, body: { ok: true } });
  } finally {
    await new Promise((r) => server.close(r));
    await cleanup();
  }
});

test.run();
