/**
 * The clock a real member's engine runs on: {@link systemClock}, except that a timer's callback
 * runs only once the event loop has read what waits on its sockets.
 *
 * Node runs expired timers before it polls for I/O. After anything held the event loop past a
 * probe's timeout (a start-up, a synchronous store write, a garbage collection, or simply a
 * loaded machine that gave the process no core for a while), the probe's timeout then fired
 * before the ack that had arrived in time was read, and the prober suspected a member that had
 * answered (issue 15: healthy members suspected while a cluster formed). Here an expired timer
 * hands its callback on through hops that both runtimes run only after polling for I/O: under
 * Node one `setImmediate` (the check phase, right after the poll of the same turn: the process
 * does not sleep in between), under Deno two zero-delay timers (`setImmediate` would not do there;
 * each such timer costs the process a sleep and a wake-up, about 40 % of an idle member's timer
 * cost under Node, where a member fires some 7 engine timers a second). The ack is read first,
 * and a verdict counts only what really did not arrive.
 *
 * @module
 */
import { clearImmediate, setImmediate } from "node:timers";
import { type Clock, systemClock, type TimerHandle } from "../lib/cluster/clock.ts";
import { monotonicNow, wallOffsetNow } from "../lib/cluster/monotonic_now.ts";
import { isDeno } from "../lib/runtime.ts";

/**
 * Hops an expired timer's callback passes through. Under Node one: the `setImmediate` runs in
 * the check phase, right after the poll of the same turn, which has read the sockets (a TLS
 * socket's frames included: they are decrypted and emitted within that read). A second hop was
 * one more turn of the loop per engine timer, an `epoll_wait` and a pass through the
 * immediates, for nothing. Deno's sockets deliver what they read a step later (one hop missed
 * it about once in 25 trials, two never did).
 */
const HOPS = isDeno ? 2 : 1;

interface Handle {
  timer: TimerHandle;
  immediate: ReturnType<typeof setImmediate> | undefined;
  cancelled: boolean;
}

/**
 * {@link systemClock} whose timers fire after the pending I/O (see the module docs), and whose
 * `now` is monotonic ({@link monotonicNow}): a step of the wall clock (NTP, `date -s`, a VM
 * resumed) moved every duration the engine measured, and a suspicion held when the clock stepped
 * forwards 10 min was declared dead at its next confirmation, its member stopped for 5 s. Dates
 * (records, heartbeats reported) add `wallOffset` ({@link wallOffsetNow}), which follows the wall
 * clock's steps.
 */
export const ioFirstClock: Clock = {
  now: monotonicNow,
  wallOffset: wallOffsetNow,
  setTimeout(fn, ms) {
    const h: Handle = { timer: undefined, immediate: undefined, cancelled: false };
    const after = (hops: number) => () => {
      h.immediate = undefined;
      if (h.cancelled) return;
      if (hops === 0) return fn();
      if (isDeno) {
        h.timer = systemClock.setTimeout(after(hops - 1), 0);
      } else {
        // Not unref'd: Node's poll would then block until the next timer or I/O, whatever the
        // immediates waiting.
        h.immediate = setImmediate(after(hops - 1));
      }
    };
    h.timer = systemClock.setTimeout(after(HOPS), ms);
    return h;
  },
  clearTimeout(handle) {
    const h = handle as Handle | undefined;
    if (!h || typeof h !== "object" || !("cancelled" in h)) return;
    h.cancelled = true;
    systemClock.clearTimeout(h.timer);
    if (h.immediate !== undefined) clearImmediate(h.immediate);
  },
};
