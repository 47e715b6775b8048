/**
 * A host name's resolution that completed in time while the member's event loop was held (the
 * member stopped with SIGSTOP and continued, its VM paused, swapping) is read, not judged as
 * resolving to nothing: a held loop runs its expired timers before it reads what completed
 * meanwhile, and the lookup's bound (`LOOKUP_MS`) took the name for one that resolves to no
 * address, so a joiner's address naming an existing member's socket under another name went
 * unnoticed. The bound is a late-aware deadline (`lib/net/late_deadline.ts`).
 *
 * Played in one process with the real environment's resolver: the lookup starts, then the loop
 * is held past its bound inside that I/O callback.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { LOOKUP_MS, systemEnvironment } from "../../lib/daemon/environment.ts";
import { actThenHold } from "../helpers/held_loop.ts";

const test = suite("a lookup answered while the loop was held");

test("is read", async () => {
  const lookup = systemEnvironment.lookup!;
  // What the name resolves to, the loop not held: what the held lookup must find too.
  const expected = await lookup("localhost");
  assert.ok(expected.length > 0, "localhost resolves here");
  // Past the bound by more than a held loop's margin (100 ms).
  const addresses = await actThenHold(() => lookup("localhost"), LOOKUP_MS + 500);
  assert.equal([...addresses].sort(), [...expected].sort());
});

test.run();
