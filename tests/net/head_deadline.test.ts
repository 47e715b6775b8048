/**
 * The head deadline of a new connection, driven through `ListenerGuard` with a socket stand-in:
 * a head begun before the connection was ready (bytes read with the TLS handshake, which Deno's
 * listener reports after reading them) is a head begun, answered 408 at the deadline; a
 * connection that sent nothing is closed without a word, as is one whose handshake never ends.
 */
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { HTTPS_LIMITS, ListenerGuard } from "../../lib/net/limits.ts";
import { silentLogger } from "../../lib/log.ts";

const test = suite("a new connection's head deadline");

/** What a listener sees of a connection: the bytes read so far, and how it was closed. */
class FakeSocket extends EventEmitter {
  remoteAddress = "192.0.2.7";
  remotePort = 40000 + Math.floor(Math.random() * 20000);
  destroyed = false;
  written = "";
  ended = false;
  constructor(public bytesRead: number) {
    super();
  }
  end(data?: string): this {
    if (data) this.written += data;
    this.ended = true;
    return this;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit("close");
    }
    return this;
  }
}

const limits = { ...HTTPS_LIMITS, headersTimeoutMs: 50 };

async function afterDeadline(bytesReadAtReady: number): Promise<FakeSocket> {
  const guard = new ListenerGuard(limits, silentLogger);
  const socket = new FakeSocket(bytesReadAtReady);
  const s = socket as unknown as Socket;
  assert.ok(guard.admit(s, () => {}), "admitted");
  guard.ready(s);
  await new Promise((r) => setTimeout(r, 200));
  socket.destroy();
  return socket;
}

test("a head begun before the connection was ready is answered 408 at the deadline", async () => {
  const socket = await afterDeadline(8);
  assert.ok(socket.ended, "ended with an answer, not destroyed in silence");
  assert.match(socket.written, /^HTTP\/1\.1 408 /);
  assert.match(socket.written, /Request headers not received within 0\.05 s/);
});

test("a connection that sent nothing is closed without a word", async () => {
  const socket = await afterDeadline(0);
  assert.not.ok(socket.ended);
  assert.is(socket.written, "");
});

test("a connection whose handshake never ends is closed at the deadline", async () => {
  // The guard times the TLS handshake too (node:tls's own timer ran before a ClientHello that
  // arrived in time was read when the loop had been held: see held_loop.test.ts).
  const guard = new ListenerGuard(limits, silentLogger);
  const socket = new FakeSocket(0);
  assert.ok(guard.admit(socket as unknown as Socket, () => {}), "admitted");
  const until = performance.now() + 10_000;
  while (!socket.destroyed && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(socket.destroyed, "still open 10 s after a 50 ms deadline");
  assert.not.ok(socket.ended, "closed without a word: no HTTP was spoken");
});

test.run();
