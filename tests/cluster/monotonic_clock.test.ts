/**
 * The daemon's clock (`lib/cluster/monotonic_clock.ts`): its timers, met late by a held event
 * loop (a member stopped with SIGSTOP and continued, a VM paused, swapping), call back only
 * after what arrived meanwhile was read, so a verdict that what arrived would cancel does not
 * come; a timer with nothing to read still calls back, once; `clearTimeout` takes any handle.
 * Played in one process: an answer is written to a socket, then the loop held past the timer
 * inside that I/O callback.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { TimerHandle } from "../../lib/cluster/clock.ts";
import { monotonicClock as clock } from "../../lib/cluster/monotonic_clock.ts";
import { actThenHold, socketLink } from "../helpers/held_loop.ts";

const test = suite("the daemon's clock after a held loop");

const TIMER_MS = 200;

/** Waits until `done()` or 10 s pass. */
async function until(done: () => boolean): Promise<void> {
  const end = performance.now() + 10_000;
  while (!done() && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
}

test("a timer whose answer arrived while the loop was held is cancelled by it", async () => {
  let verdict = "";
  let timer: TimerHandle;
  // The answer, read: it decides and cancels the timer, as a claim round's last grant does.
  const link = await socketLink(() => {
    verdict ||= "answered";
    clock.clearTimeout(timer);
  });
  try {
    await actThenHold(() => {
      timer = clock.setTimeout(() => (verdict ||= "no answer"), TIMER_MS);
      link.peer.write("grant");
    }, 3 * TIMER_MS);
    await until(() => verdict !== "");
    assert.is(verdict, "answered");
  } finally {
    await link.close();
  }
});

test("a timer met late with nothing to read calls back, once", async () => {
  let calls = 0;
  await actThenHold(() => clock.setTimeout(() => calls++, TIMER_MS), 3 * TIMER_MS);
  await until(() => calls > 0);
  // Long enough for a second call, were there one.
  await new Promise((r) => setTimeout(r, 2 * TIMER_MS));
  assert.is(calls, 1);
});

test("a timer met on time calls back; a cleared one does not", async () => {
  const calls: string[] = [];
  clock.setTimeout(() => calls.push("kept"), 10);
  const cleared = clock.setTimeout(() => calls.push("cleared"), 10);
  clock.clearTimeout(cleared);
  await until(() => calls.length > 0);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(calls, ["kept"]);
});

test("clearTimeout takes a handle that is none of its timers, or one that fired", async () => {
  clock.clearTimeout(undefined);
  clock.clearTimeout(42);
  clock.clearTimeout({});
  let fired = false;
  const handle = clock.setTimeout(() => (fired = true), 0);
  await until(() => fired);
  clock.clearTimeout(handle);
  assert.ok(fired);
});

test.run();
