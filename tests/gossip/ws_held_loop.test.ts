/**
 * A gossip connection whose peer answered the liveness ping in time is kept when the dialling
 * member's event loop was held (a member stopped and continued, a VM paused, swapping, a long
 * task) past its next check: a held loop runs its expired timers before it reads the sockets
 * again, and the check judging "the ping went unanswered" then must look once more
 * (`lib/net/late_deadline.ts`), as the HTTP deadlines do. Played in one process: the listener
 * answers the ping, then the loop is held past the dialler's next check inside that I/O callback.
 */
import type { Duplex } from "node:stream";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { keyPair } from "../net/_helpers.ts";
import { startMember, waitFor, type WsMember } from "./ws_helpers.ts";

const test = suite("a gossip connection whose ping was answered while the loop was held");

/** The dialler checks its connections every 100 ms, pings every second check. */
const IDLE_CLOSE_MS = 200;

test("is kept", async () => {
  const trust = new Set<string>();
  for (const name of ["alpha", "beta"]) trust.add((await keyPair(name)).fingerprint);
  const members: WsMember[] = [];
  try {
    const a = await startMember("alpha", trust, {
      idleCloseMs: IDLE_CLOSE_MS,
      keepOpenMs: () => 60_000,
    });
    members.push(a);
    const b = await startMember("beta", trust, { idleCloseMs: IDLE_CLOSE_MS });
    members.push(b);
    let pings = 0;
    b.listener.server.on("upgrade", (_req: unknown, socket: Duplex) => {
      // After the transport's own listeners: ws has read the ping and written its pong.
      socket.on("data", (chunk: Uint8Array) => {
        // A liveness ping: an empty ping frame, masked as a client's is (the ping confirming a
        // shared connection carries a nonce).
        if (chunk[0] !== 0x89 || chunk.length !== 6) return;
        if (++pings > 1) return;
        const until = performance.now() + 4 * IDLE_CLOSE_MS;
        while (performance.now() < until) { /* the loop is held */ }
      });
    });
    a.transport.send(b.listener.address, "one");
    await waitFor(() => b.inbox.length === 1, "the frame");
    await waitFor(
      () => pings >= 3 || a.transport.stats().outbound === 0,
      "two more pings, or the connection dropped",
      10_000,
    );
    assert.is(a.transport.stats().outbound, 1, "dropped though its ping was answered in time");
    assert.is(a.transport.stats().dialled, 1);
  } finally {
    await Promise.all(members.map((m) => m.close()));
  }
});

test.run();
