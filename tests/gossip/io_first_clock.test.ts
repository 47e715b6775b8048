/**
 * The real member's gossip clock reads what waits on its sockets before a timer's callback runs
 * (issue 15: after the event loop was held past a probe's timeout, the timeout fired before the
 * ack that had arrived in time was read, and a healthy member was suspected). A reply is put in
 * the socket's receive buffer while the loop is held; the timer that expired meanwhile must see
 * it.
 */
import { once } from "node:events";
import { createServer, type Server, type Socket, Socket as NetSocket } from "node:net";
import * as tls from "node:tls";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type Clock, systemClock } from "../../lib/cluster/clock.ts";
import { ioFirstClock } from "../../gossip/io_first_clock.ts";
import { Suspicion } from "../../gossip/suspicion.ts";
import { isDeno } from "../../lib/runtime.ts";
import { keyPair } from "../net/_helpers.ts";

const test = suite("gossip clock: I/O before timers");

/** Holds the event loop for `ms` (a synchronous task, as a long store write or a stall). */
function hold(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* held */ }
}

/**
 * Whether the timer (20 ms) that expired while the loop was held saw the reply, which reached
 * the socket's receive buffer before the hold. With `secure`, over TLS, as members' frames
 * travel: the reply must also have been decrypted before the timer runs.
 */
async function replySeenByTimer(clock: Clock, secure = false): Promise<boolean> {
  const pair = secure ? await keyPair("io-first") : undefined;
  const server: Server = pair
    ? tls.createServer({ cert: pair.cert, key: pair.key })
    : createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const accepted = once(server, pair ? "secureConnection" : "connection") as Promise<[Socket]>;
  const client: Socket = pair
    ? tls.connect({ port, host: "127.0.0.1", ca: pair.cert, servername: "localhost" })
    : new NetSocket().connect(port, "127.0.0.1");
  await once(client, pair ? "secureConnect" : "connect");
  const [peer] = await accepted;
  // The connection is in use, as a member's are: one exchange first, so the client reads.
  let received = false;
  const warm = once(client, "data");
  peer.write("hello");
  await warm;
  client.on("data", () => (received = true));
  try {
    return await new Promise<boolean>((resolve) => {
      clock.setTimeout(() => resolve(received), 20);
      // On loopback the reply is in the client's receive buffer when write() returns.
      peer.write("ack");
      hold(150);
    });
  } finally {
    client.destroy();
    peer.destroy();
    server.close();
  }
}

test("a timer that expired while the loop was held runs after the waiting reply is read", async () => {
  for (let i = 0; i < 20; i++) {
    assert.ok(await replySeenByTimer(ioFirstClock), `run ${i}: the reply was read first`);
  }
});

test("the same over TLS: the reply is read and decrypted before the timer runs", async () => {
  for (let i = 0; i < 20; i++) {
    assert.ok(await replySeenByTimer(ioFirstClock, true), `run ${i}: the reply was read first`);
  }
});

test("the plain system clock runs it first (what the gossip clock is for)", async () => {
  assert.not.ok(await replySeenByTimer(systemClock), "the timer ran before the reply was read");
});

test("under Node an expired timer hands on without further timers (each a sleep and a wake-up)", async () => {
  // The clock's timers are unref'd: this one keeps the process alive meanwhile.
  const keep = setInterval(() => {}, 1000);
  const timeout = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof timeout>) => {
    timers++;
    return timeout(...args);
  }) as typeof timeout;
  try {
    await new Promise<void>((resolve) => ioFirstClock.setTimeout(resolve, 5));
  } finally {
    globalThis.setTimeout = timeout;
    clearInterval(keep);
  }
  // Deno: the timer, then two zero-delay hops (setImmediate would not let its sockets deliver).
  assert.is(timers, isDeno ? 3 : 1);
});

test("under Node the callback runs in the turn its timer expired in (one hop: no further poll)", async () => {
  if (isDeno) return; // Deno hops through zero-delay timers (the test above)
  const order: string[] = [];
  // Two timers of the same moment expire in the same timers phase, in this order; an immediate
  // queued then runs in that turn's check phase, one queued from there in the next turn's.
  const done = new Promise<void>((resolve) => {
    ioFirstClock.setTimeout(() => order.push("clock"), 5);
    setTimeout(() => setImmediate(() => resolve(void order.push("immediate"))), 5);
  });
  await done;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(order, ["clock", "immediate"]);
});

test("a cleared timer never runs, cleared before it expired or after", async () => {
  let ran = 0;
  const a = ioFirstClock.setTimeout(() => ran++, 5);
  ioFirstClock.clearTimeout(a);
  // Cleared from a callback of the same moment: the timer may have expired and handed on.
  const b = ioFirstClock.setTimeout(() => ran++, 5);
  systemClock.setTimeout(() => ioFirstClock.clearTimeout(b), 5);
  hold(20);
  await new Promise((r) => setTimeout(r, 40));
  assert.is(ran, 0);
  // Waited for, not given 40 ms: under Deno it hops through zero-delay timers, which a busy
  // machine can put after a 40 ms timer of the test's.
  const fired = await new Promise<boolean>((resolve) => {
    ioFirstClock.setTimeout(() => resolve(true), 5);
    setTimeout(() => resolve(false), 10_000);
  });
  assert.ok(fired, "an uncleared timer runs");
  assert.is(ran, 0, "the cleared ones did not run meanwhile");
});

/** Runs `fn` with `Date.now` (the wall clock) stepped by `step()` ms, as NTP or `date -s` do. */
async function withWallStep(fn: (stepTo: (ms: number) => void) => Promise<void>): Promise<void> {
  const wall = Date.now;
  let offset = 0;
  Date.now = () => wall() + offset;
  try {
    await fn((ms) => (offset = ms));
  } finally {
    Date.now = wall;
  }
}

test("a step of the wall clock moves the wall offset, never now", async () => {
  const wallNow = () => ioFirstClock.now() + ioFirstClock.wallOffset!();
  const offset = ioFirstClock.wallOffset!();
  for (let i = 0; i < 1000; i++) {
    assert.is(ioFirstClock.wallOffset!(), offset, "the offset is one value between steps");
  }
  assert.ok(Math.abs(wallNow() - Date.now()) < 1000, "now + offset is the wall clock");
  await withWallStep(async (stepTo) => {
    const [now, wall] = [ioFirstClock.now(), wallNow()];
    stepTo(600_000);
    await new Promise((r) => setTimeout(r, 20));
    const [now2, wall2] = [ioFirstClock.now(), wallNow()];
    assert.ok(now2 - now >= 15 && now2 - now < 5_000, `now moved ${now2 - now} ms in 20 ms`);
    assert.ok(wall2 - wall >= 600_000, `wallNow moved ${wall2 - wall} ms`);
    stepTo(-600_000);
    const now3 = ioFirstClock.now();
    assert.ok(now3 >= now2, `now went back ${now2 - now3} ms`);
  });
});

test("a suspicion held when the wall clock steps forwards is not declared dead at its next confirmation", async () => {
  await withWallStep(async (stepTo) => {
    let fired = false;
    // k 2: the timer starts at max (18 s); one confirmation brings it to well over a second.
    const s = new Suspicion(ioFirstClock, "a", 2, 3_000, 18_000, () => (fired = true));
    try {
      stepTo(600_000);
      assert.ok(s.confirm("b"), "a new confirmation");
      await new Promise((r) => setTimeout(r, 100));
      assert.not.ok(fired, "declared dead at once: the 10 min step counted as time suspected");
    } finally {
      s.cancel();
    }
  });
});

test.run();
