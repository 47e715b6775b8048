/**
 * `heartbeatTime`, the `last_heartbeat` of `GET /core/1.0/cluster`, keeps the text of the second
 * it formatted last: whatever the order of the times it is given, it answers what
 * `toISOString` does, and Go's zero time for "never".
 */
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { heartbeatTime } from "../../lib/daemon/entries.ts";

const test = suite("heartbeatTime()");

test("is toISOString for any time after the epoch, in any order; Go's zero time for 0", () => {
  const ms = fc.oneof(
    fc.integer({ min: 1, max: 8.64e15 }),
    fc.double({ min: 1e-3, max: 4e12, noNaN: true }),
    fc.integer({ min: 1_700_000_000_000, max: 1_700_000_003_000 }), // one second after another
  );
  fc.assert(
    fc.property(fc.array(ms, { maxLength: 20 }), (times) => {
      for (const t of times) assert.is(heartbeatTime(t), new Date(t).toISOString(), String(t));
    }),
    { numRuns: 2000 },
  );
  assert.is(heartbeatTime(0), "0001-01-01T00:00:00Z");
  assert.is(heartbeatTime(-5), "0001-01-01T00:00:00Z");
});

test.run();
