/**
 * The waiting room of a listener (lib/net/waiting_room.ts) from outside: beyond the unanswered
 * cap, raw connections wait unread for a turn, turns go to the least served address, a full room
 * and a turn that never comes close connections unread, and both are logged. Every assertion is
 * about answers, handshakes and closes, never about how long they took.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { head, within } from "../helpers/raw_http.ts";
import { memoryLogger } from "./_helpers.ts";
import { closeOpened, holdBodies, open, SMALL, waitFor, withHttps } from "./limits_fixture.ts";

const test = suite("the waiting room");
test.after.each(closeOpened);

test("beyond the unanswered cap, connections wait unread; a turn goes to the least served address", async () => {
  const limits = {
    ...SMALL,
    maxConnectionsPerPeer: 10,
    maxPending: 2,
    maxPendingPerPeer: 2,
    headersTimeoutMs: 10_000,
  };
  await withHttps(limits, async (port, listener) => {
    let tlsErrors = 0;
    listener.server.on("tlsClientError", () => tlsErrors++);
    const release = holdBodies();
    // Two connections of one address hold both turns; a2's handler waits.
    const [a1, a2] = [open(port, "127.0.0.5"), open(port, "127.0.0.5")];
    for (const c of [a1, a2]) await within(c.ready, 5000, "handshake");
    a2.socket.write(head("GET", "/held"));
    const ready: string[] = [];
    const wait = (name: string, from: string) => {
      const c = open(port, from);
      c.ready.then(() => ready.push(name), () => {});
      return c;
    };
    const [a3, a4] = [wait("a3", "127.0.0.5"), wait("a4", "127.0.0.5")];
    await within(waitFor(() => listener.guard.unanswered.waiting === 2), 5000, "two waiting");
    const b1 = wait("b1", "127.0.0.6");
    await within(waitFor(() => listener.guard.unanswered.waiting === 3), 5000, "three waiting");
    assert.equal(listener.guard.unanswered, { pending: 2, waiting: 3 });
    assert.equal(ready, [], "no handshake without a turn");
    // a1 is answered: its turn goes to the address with none in its turn, though a3 came first.
    a1.socket.write(head("GET", "/refuse"));
    assert.is((await within(a1.answer, 5000, "answer")).status, 403);
    await within(b1.ready, 5000, "handshake of b1");
    assert.equal(ready, ["b1"]);
    assert.equal(listener.guard.unanswered, { pending: 2, waiting: 2 });
    release(); // a2 is answered: its address now has the fewest in their turn
    assert.is((await within(a2.answer, 5000, "answer")).status, 200);
    await within(a3.ready, 5000, "handshake of a3");
    assert.equal(ready, ["b1", "a3"], "a4 waits: a3 came before it");
    b1.socket.write(head("GET", "/refuse"));
    assert.is((await within(b1.answer, 5000, "answer")).status, 403);
    await within(a4.ready, 5000, "handshake of a4 once b1 was answered");
    for (const c of [a3, a4]) c.socket.write(head("GET", "/refuse"));
    for (const c of [a3, a4]) assert.is((await within(c.answer, 5000, "answer")).status, 403);
    assert.is(tlsErrors, 0);
  });
});

test("a full waiting room closes new connections unread, except from a less crowded address", async () => {
  const { logger, lines } = memoryLogger();
  const limits = {
    ...SMALL,
    maxConnectionsPerPeer: 10,
    maxPending: 1,
    maxPendingPerPeer: 1,
    maxWaiting: 2,
    headersTimeoutMs: 10_000,
  };
  await withHttps(limits, async (port, listener) => {
    let tlsErrors = 0;
    listener.server.on("tlsClientError", () => tlsErrors++);
    const release = holdBodies();
    const first = open(port, "127.0.0.5");
    await within(first.ready, 5000, "handshake");
    first.socket.write(head("GET", "/held"));
    const [a2, a3] = [open(port, "127.0.0.5"), open(port, "127.0.0.5")];
    await within(waitFor(() => listener.guard.unanswered.waiting === 2), 5000, "two waiting");
    const a4 = open(port, "127.0.0.5");
    assert.equal(await within(a4.answer, 5000, "close"), { status: 0, body: "", closed: true });
    const b1 = open(port, "127.0.0.6"); // its address has none waiting: the newest of .5 leaves
    assert.equal(await within(a3.answer, 5000, "close"), { status: 0, body: "", closed: true });
    assert.equal(listener.guard.unanswered, { pending: 1, waiting: 2 });
    release();
    assert.is((await within(first.answer, 5000, "answer")).status, 200);
    for (const c of [a2, b1]) {
      await within(c.ready, 5000, "handshake");
      c.socket.write(head("GET", "/refuse"));
      assert.is((await within(c.answer, 5000, "answer")).status, 403);
    }
    assert.is(tlsErrors, 0, "the connections closed never reached node:tls");
  }, logger);
  const line = lines.find((l) => String(l.msg).startsWith("Connection refused: too many waiting"));
  assert.ok(line, "logged");
  assert.is(line!.limit, "2 connections waiting for a turn at once");
});

test("a connection that finds no turn within the head timeout is closed unread, and logged", async () => {
  const { logger, lines } = memoryLogger();
  const limits = { ...SMALL, maxPending: 1, maxPendingPerPeer: 1 };
  await withHttps(limits, async (port, listener) => {
    let tlsErrors = 0;
    listener.server.on("tlsClientError", () => tlsErrors++);
    const release = holdBodies();
    const first = open(port, "127.0.0.5");
    await within(first.ready, 5000, "handshake");
    first.socket.write(head("GET", "/held"));
    const late = open(port, "127.0.0.6");
    const outcome = await within(late.answer, 5000, "close");
    assert.equal(outcome, { status: 0, body: "", closed: true });
    assert.is(await late.ready.then(() => "ready", () => "never"), "never");
    assert.is(tlsErrors, 0, "closed before node:tls took it up");
    release();
    assert.is((await within(first.answer, 5000, "answer")).status, 200);
    assert.equal(listener.guard.unanswered, { pending: 0, waiting: 0 });
  }, logger);
  const line = lines.find((l) => String(l.msg).startsWith("Connection closed unread"));
  assert.ok(line, "logged");
  assert.is(line!.limit, "1 unanswered connections at once, 1 per address, for 0.4 s");
});

test.run();
