import { setImmediate } from "node:timers";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type WebSocket from "ws";
import { coalescingSender } from "../../gossip/ws_transport.ts";
import { sleep, startMember, waitFor } from "./ws_helpers.ts";
import { keyPair } from "../net/_helpers.ts";

/** A stand-in for a ws socket: records what reaches its socket, and when. */
function fakeWs(log: string[], name: string) {
  let corks = 0;
  const socket = {
    cork: () => void (corks++, log.push(`${name} cork`)),
    uncork: () => void (corks--, log.push(`${name} uncork`)),
  };
  return {
    ws: {
      _socket: socket,
      send: (d: string) => log.push(`${name} ${d}${corks ? " (corked)" : ""}`),
    },
    corks: () => corks,
  };
}

const turn = () => new Promise((r) => setImmediate(r));

test("frames to one peer within one turn are corked together and leave once the turn ends", async () => {
  const log: string[] = [];
  const write = coalescingSender();
  const a = fakeWs(log, "a");
  const b = fakeWs(log, "b");
  write(a.ws as unknown as WebSocket, "1");
  write(b.ws as unknown as WebSocket, "x");
  write(a.ws as unknown as WebSocket, "2");
  write(a.ws as unknown as WebSocket, "3");
  assert.equal(log, [
    "a cork",
    "a 1 (corked)",
    "b cork",
    "b x (corked)",
    "a 2 (corked)",
    "a 3 (corked)",
  ]);
  await turn();
  assert.is(a.corks(), 0, "uncorked after the turn");
  assert.is(b.corks(), 0);
  log.length = 0;
  write(a.ws as unknown as WebSocket, "4");
  assert.equal(log, ["a cork", "a 4 (corked)"], "the next turn corks anew");
  await turn();
  assert.equal(log, ["a cork", "a 4 (corked)", "a uncork"]);
  // A ws without a socket (not connected yet) sends as it is.
  const bare = { send: (d: string) => log.push(`bare ${d}`) };
  write(bare as unknown as WebSocket, "5");
  assert.is(log.at(-1), "bare 5");
});

test("a burst to one peer arrives whole and in order over a real connection", async () => {
  const trust = new Set<string>();
  for (const name of ["alpha", "beta"]) trust.add((await keyPair(name)).fingerprint);
  const a = await startMember("alpha", trust, {});
  const b = await startMember("beta", trust, {});
  try {
    a.transport.send(b.listener.address, "open");
    await waitFor(() => b.inbox.length === 1, "the connection");
    for (let i = 0; i < 200; i++) a.transport.send(b.listener.address, { i });
    await waitFor(() => b.inbox.length === 201, "200 frames");
    assert.equal(b.inbox.slice(1).map((m) => JSON.parse(m.frame as string).i), [
      ...Array(200).keys(),
    ]);
    await sleep(20);
    assert.is(a.transport.stats().dropped, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test.run();
