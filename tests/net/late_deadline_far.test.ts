/**
 * A deadline further away than one runtime timer reaches (2^31 - 1 ms, 24.8 days) waits for it:
 * Node and Deno fire such a timer at once, so a daemon started with `upgradeDeadGraceMs` of 30
 * days re-checked its upgrade gate every millisecond while a member was down, and `cohort
 * shutdown --timeout 1e308` gave up at once ("no answer within Infinity ms"), the daemon still
 * running. Every timer of a member runs on this deadline (`monotonicClock`), as does every
 * request's time limit (`lib/net/client.ts`).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { deadlineIn, MAX_TIMER_MS } from "../../lib/net/late_deadline.ts";

const test = suite("far deadlines");

test("a deadline past a timer's reach has not expired when a near one does", async () => {
  const expired: string[] = [];
  const far = [MAX_TIMER_MS + 1, 30 * 86_400_000, 1e308 * 1000, Infinity].map((ms) =>
    deadlineIn(ms, () => expired.push(String(ms)))
  );
  // Timers run in the order they are due: the far ones, fired at once, ran before this one.
  await new Promise<void>((resolve) => deadlineIn(30, () => resolve(), { ref: true }));
  for (const d of far) d.clear();
  assert.equal(expired, []);
});

test("the longest single timer is still one timer, and a far deadline can be cleared", async () => {
  const expired: number[] = [];
  const longest = deadlineIn(MAX_TIMER_MS, () => expired.push(1));
  const far = deadlineIn(MAX_TIMER_MS * 3, () => expired.push(2));
  await new Promise<void>((resolve) => deadlineIn(30, () => resolve(), { ref: true }));
  longest.clear();
  far.clear();
  far.clear(); // idempotent
  assert.equal(expired, []);
});

test.run();
