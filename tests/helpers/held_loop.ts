/**
 * Holding a test process's event loop, as a member's is held when it is stopped with SIGSTOP and
 * continued, its VM paused, or its machine swapping: nothing of the process runs meanwhile, and
 * what the peers send waits in the sockets. The thread sleeps (`Atomics.wait`) rather than
 * spinning, so that a hold of seconds costs a loaded machine no core.
 */
import { stat } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Holds the event loop for `ms` milliseconds. */
export function holdLoop(ms: number): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const until = performance.now() + ms;
  // Atomics.wait may wake early (spuriously): hold again until the time has passed.
  for (let left = ms; left > 0; left = until - performance.now()) {
    Atomics.wait(cell, 0, 0, left);
  }
}

/** Holds the event loop until `performance.now()` reaches `until` (ms). */
export function holdLoopUntil(until: number): void {
  holdLoop(until - performance.now());
}

/**
 * Runs `act`, then holds the loop for `ms`, inside an I/O callback: as a stopped member mostly
 * is when it is not idle, the loop then runs its expired timers before it reads the sockets
 * again. Resolves with what `act` returned, once the hold is over.
 */
export function actThenHold<T>(act: () => T, ms: number): Promise<T> {
  return new Promise((done) =>
    stat(tmpdir(), () => {
      const value = act();
      holdLoop(ms);
      done(value);
    })
  );
}

/** A unix socket link: `peer` writes what the accepting side hands to `onData`. */
export interface SocketLink {
  /** The sending end. */
  peer: Socket;
  /** Closes both ends and removes the socket's directory. */
  close(): Promise<void>;
}

/** Opens a {@link SocketLink} in a temporary directory; resolves once `peer` is connected. */
export async function socketLink(onData: (text: string) => void): Promise<SocketLink> {
  const dir = await mkdtemp(join(tmpdir(), "cohort-held-"));
  const accepted: Socket[] = [];
  const server = createServer((socket) => {
    accepted.push(socket);
    socket.on("error", () => {});
    socket.on("data", (d) => onData(String(d)));
  });
  const path = join(dir, "s.sock");
  await new Promise<void>((r) => server.listen(path, r));
  const peer = connect(path);
  peer.on("error", () => {});
  await new Promise((r) => peer.once("connect", r));
  return {
    peer,
    close: async () => {
      peer.destroy();
      for (const s of accepted) s.destroy();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
