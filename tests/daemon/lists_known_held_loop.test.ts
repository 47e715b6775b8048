/**
 * A restart's wait for the lists of the members that are up (`listsKnown`, step "lists" of
 * `lib/daemon/flows/open.ts`) takes a list that arrived in time while the member's event loop
 * was held (the member stopped with SIGSTOP and continued, its VM paused, swapping): a held loop
 * runs its expired timers before it reads the sockets again, and the wait's bound
 * (`LISTS_WAIT_MS`) let the start decide without the list waiting unread. The wait runs on the
 * daemon's clock (`monotonicClock`), whose timers look at the sockets once more when they run
 * clearly late.
 *
 * Played in one process, on the daemon's real clock: a view whose changes wake the start as
 * `Network.nextChange` does, its lists learnt from a socket; the list is written to it, then
 * the loop is held past the bound in that I/O callback.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { MemberVersion } from "../../lib/cluster/compat.ts";
import type { Clock } from "../../lib/cluster/clock.ts";
import { monotonicClock } from "../../lib/cluster/monotonic_clock.ts";
import { LISTS_WAIT_MS, listsKnown } from "../../lib/daemon/flows/open.ts";
import { actThenHold, socketLink } from "../helpers/held_loop.ts";

const test = suite("a list that arrived while the loop was held");

/** A view whose lists are learnt from a socket, its changes noticed as `Network.nextChange`. */
class SocketView {
  readonly versions = new Map<string, MemberVersion | undefined>();
  #waiters: (() => void)[] = [];
  readonly view = {
    roster: () => new Map([...this.versions.keys()].map((n) => [n, {}])),
    versionOf: (name: string) => this.versions.get(name),
    liveness: () => ({ up: true }),
  };

  constructor(readonly clock: Clock) {}

  /** Resolves after the next list learnt, or after `ms` on the clock. */
  nextChange(ms: number): Promise<void> {
    const clock = this.clock;
    return new Promise((resolve) => {
      const timer = clock.setTimeout(done, ms);
      this.#waiters.push(done);
      function done() {
        clock.clearTimeout(timer);
        resolve();
      }
    });
  }

  /** `name`'s list arrived: every waiter wakes. */
  learn(name: string, version: MemberVersion): void {
    this.versions.set(name, version);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

const NEW: MemberVersion = { schemaInternal: 2, schemaExternal: 0, extensions: ["a", "b"] };

test("is taken before the start goes on", async () => {
  const net = new SocketView(monotonicClock);
  net.versions.set("m1", NEW).set("m2", undefined);
  const link = await socketLink((name) => net.learn(name, NEW));
  try {
    // Whether m2's list was known when the start went on; held past the bound by more than a
    // held loop's margin (100 ms).
    const wentOn = await actThenHold(() => {
      const known = listsKnown(net, monotonicClock).then(() =>
        net.versions.get("m2") !== undefined
      );
      link.peer.write("m2");
      return known;
    }, LISTS_WAIT_MS + 500);
    assert.ok(wentOn, "the start went on with m2's list unread");
  } finally {
    await link.close();
  }
});

test.run();
