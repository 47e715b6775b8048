/**
 * A restart waits (briefly) until the versions of every member that is up are known
 * (`listsKnown`, lib/daemon/flows/open.ts, step "lists"): a member running a list this one never
 * saw, with no stored row to count it by. Issue 15's wake-up: the start goes on in the turn the
 * list arrives (a view change), not at its next poll. On the simulated clock, with a scriptable
 * view whose changes wake the start as `Network.nextChange` does.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SimClock } from "../../gossip/sim_clock.ts";
import type { MemberVersion } from "../../lib/cluster/compat.ts";
import type { TimerHandle } from "../../lib/cluster/clock.ts";
import { LISTS_WAIT_MS, listsKnown } from "../../lib/daemon/flows/open.ts";

/** A scriptable view and its change notices (`Network.nextChange`'s contract). */
class FakeNetwork {
  readonly clock = new SimClock(1_000);
  readonly versions = new Map<string, MemberVersion | undefined>();
  readonly down = new Set<string>();
  #waiters: (() => void)[] = [];
  readonly view = {
    roster: () => new Map([...this.versions.keys()].map((n) => [n, {}])),
    versionOf: (name: string) => this.versions.get(name),
    liveness: (name: string) => ({ up: !this.down.has(name) }),
  };

  /** Resolves after the next {@link FakeNetwork.change}, or after `ms`. */
  nextChange(ms: number): Promise<void> {
    const clock = this.clock;
    return new Promise((resolve) => {
      const timer: TimerHandle = clock.setTimeout(done, ms);
      this.#waiters.push(done);
      function done() {
        clock.clearTimeout(timer);
        resolve();
      }
    });
  }

  /** A view change (a list learned, a member's state): every waiter wakes. */
  change(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

const NEW: MemberVersion = { schemaInternal: 2, schemaExternal: 0, extensions: ["a", "b"] };

/** Lets the promise jobs queued by now run (the rest of one turn). */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

/** Starts `listsKnown` on `net`; returns when it resolved (simulated ms), or undefined. */
function run(net: FakeNetwork): { at?: number } {
  const result: { at?: number } = {};
  void listsKnown(net, net.clock).then(() => result.at = net.clock.now());
  return result;
}

const test = suite("a restart waits for the lists of the members that are up");

test("goes on at once when every member that is up has known versions", async () => {
  const net = new FakeNetwork();
  net.versions.set("m1", NEW).set("m2", NEW).set("m3", undefined);
  net.down.add("m3"); // down: its versions do not hold the start
  const result = run(net);
  await settle();
  assert.is(result.at, 1_000);
});

test("goes on in the turn the missing list arrives, not at a later poll", async () => {
  const net = new FakeNetwork();
  net.versions.set("m1", NEW).set("m2", undefined);
  const result = run(net);
  await settle();
  assert.is(result.at, undefined, "waits while m2's list is unknown");
  // The list arrives 7 ms in (a push-pull answer or a fetched list: one view change).
  net.clock.advance(7);
  await settle();
  assert.is(result.at, undefined, "nothing changed yet");
  net.versions.set("m2", NEW);
  net.change();
  await settle();
  assert.is(result.at, 1_007, `went on ${(result.at ?? NaN) - 1_007} ms after the list came`);
});

test("a change that leaves a list unknown keeps it waiting, up to its bound", async () => {
  const net = new FakeNetwork();
  net.versions.set("m1", NEW).set("m2", undefined).set("m3", undefined);
  const result = run(net);
  await settle();
  net.clock.advance(3);
  net.versions.set("m2", NEW); // m3's list is still unknown
  net.change();
  await settle();
  assert.is(result.at, undefined, "still waits for m3");
  net.clock.advance(LISTS_WAIT_MS - 4);
  await settle();
  assert.is(result.at, undefined, "still waits 1 ms before its bound");
  net.clock.advance(1);
  await settle();
  assert.is(result.at, 1_000 + LISTS_WAIT_MS, "gives up at its bound");
});

test.run();
