/**
 * `deadlineAt`/`deadlineIn` (`lib/net/late_deadline.ts`), by what the loop does around them: a
 * deadline met on time expires at once; one met by a held loop gives the sockets one look; while
 * every turn of the loop is itself held (a process starved on a busy machine), it looks again,
 * a bounded number of times, and then expires. The tests measure the looks by the loop's own
 * turns (each held a known time), never by wall-clock bounds on the machine's speed.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  deadlineIn,
  HELD_LOOP_GRACE_MS,
  HELD_LOOP_LOOKS,
  HELD_LOOP_MS,
} from "../../lib/net/late_deadline.ts";
import { holdLoop } from "../helpers/held_loop.ts";

const test = suite("late deadlines");

/** Resolves with the `performance.now()` at which `expire` ran, armed `ms` from now. */
function expiry(ms: number): { at: Promise<number>; armed: number } {
  const armed = performance.now();
  const at = new Promise<number>((resolve) => {
    deadlineIn(ms, () => resolve(performance.now()), { ref: true });
  });
  return { at, armed };
}

test("a deadline met on time expires without a look", async () => {
  // Many on-time deadlines: on a busy machine one may be met late; all cannot be.
  const lateness: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { at, armed } = expiry(20);
    lateness.push((await at) - armed - 20);
  }
  assert.ok(
    lateness.some((l) => l < HELD_LOOP_GRACE_MS),
    `one of 5 expired without the look: ${lateness.map(Math.round)}`,
  );
});

test("a deadline met by a held loop looks once, then expires", async () => {
  const { at } = expiry(10);
  // Held past the deadline, in a timer of the same moment: the deadline's runs clearly late.
  setTimeout(() => holdLoop(HELD_LOOP_MS * 3), 0);
  const heldUntil = performance.now() + HELD_LOOP_MS * 3;
  const expired = await at;
  assert.ok(
    expired - heldUntil >= HELD_LOOP_GRACE_MS - 2,
    `expired ${Math.round(expired - heldUntil)} ms after the hold: the look was given`,
  );
});

test("while every turn is held, it looks again, at most HELD_LOOP_LOOKS times", async () => {
  let looks = 0;
  let starving = true;
  // Every turn of the loop is held past HELD_LOOP_MS (the look's timer too is met late).
  const starve = () => {
    if (!starving) return;
    holdLoop(HELD_LOOP_MS + HELD_LOOP_GRACE_MS + 50);
    looks++;
    setTimeout(starve, 0);
  };
  const { at } = expiry(10);
  setTimeout(starve, 0);
  await at;
  starving = false;
  const turns = looks;
  // Each held turn makes the next look's timer clearly late: the deadline's first run (late),
  // then a look per held turn, HELD_LOOP_LOOKS in all, then it expires (one look: 2 turns).
  assert.ok(
    turns > 2 && turns >= HELD_LOOP_LOOKS,
    `looked again while starved (${turns} held turns)`,
  );
  assert.ok(
    turns <= HELD_LOOP_LOOKS + 3,
    `expired after its bounded looks, not when the starving stopped (${turns} held turns)`,
  );
});

test.run();
