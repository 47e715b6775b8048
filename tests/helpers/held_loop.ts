/**
 * Holding a test process's event loop, as a member's is held when it is stopped with SIGSTOP and
 * continued, its VM paused, or its machine swapping: nothing of the process runs meanwhile, and
 * what the peers send waits in the sockets. The thread sleeps (`Atomics.wait`) rather than
 * spinning, so that a hold of seconds costs a loaded machine no core.
 */

/** Holds the event loop for `ms` milliseconds, or until `performance.now()` reaches `until`. */
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
