/**
 * A deadline that judges "nothing arrived in time" fairly after the event loop was held.
 *
 * A loop held outside its idle wait (a member stopped with SIGSTOP and continued, a VM paused, a
 * machine swapping, a long task) runs its expired timers before it reads its sockets again. A
 * deadline that fires then would judge with bytes that arrived in time still waiting unread in
 * the socket, and close a connection whose client did nothing wrong. A deadline that fires
 * clearly late ({@link HELD_LOOP_MS}) therefore gives the sockets one short look more
 * ({@link HELD_LOOP_GRACE_MS}: a poll for I/O runs meanwhile) before it expires; one met on time
 * expires at once, as a plain timer would. A look that itself ends clearly late (a machine so
 * busy that the process gets a turn now and then: what arrived needs a few turns to be read,
 * decrypted and parsed) is followed by another, {@link HELD_LOOP_LOOKS} at most.
 *
 * @module
 */
import { monotonicNow } from "../cluster/monotonic_now.ts";

/** How late (ms) a deadline must fire to count as met by a held loop. */
export const HELD_LOOP_MS = 100;
/** The look more (ms) a deadline met by a held loop gives the sockets before it expires. */
export const HELD_LOOP_GRACE_MS = 50;
/**
 * The most looks a deadline met by a held loop gives, each after the last one ended clearly late
 * ({@link HELD_LOOP_MS}): a starved process's verdict waits a few of its turns, never forever.
 */
export const HELD_LOOP_LOOKS = 4;

/**
 * The longest delay a runtime timer keeps, ms (2^31 - 1, 24.8 days): Node and Deno fire a longer
 * one at once, so a deadline further away is reached in steps of at most this.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A deadline armed with {@link deadlineAt} or {@link deadlineIn}. */
export interface Deadline {
  /** Disarms it: `expire` is not called (again). Idempotent. */
  clear(): void;
}

/**
 * Calls `expire` once the monotonic clock (`monotonicNow()`, ms) reaches `due`, or
 * {@link HELD_LOOP_GRACE_MS} after the timer ran when it ran more than {@link HELD_LOOP_MS}
 * past `due` (the loop was held, or `due` had passed already when armed: what arrived meanwhile
 * is read first), again while that look itself ends that late, {@link HELD_LOOP_LOOKS} looks at
 * most. The timer does not keep the process alive unless `options.ref` is true (a
 * caller awaiting it may hold nothing else open).
 */
export function deadlineAt(
  due: number,
  expire: () => void,
  options: { ref?: boolean } = {},
): Deadline {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number, then: () => void) => {
    timer = setTimeout(then, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    if (!options.ref) (timer as { unref?: () => void }).unref?.();
  };
  const fire = () => {
    timer = undefined;
    expire();
  };
  const look = (left: number) => {
    const until = monotonicNow() + HELD_LOOP_GRACE_MS;
    arm(HELD_LOOP_GRACE_MS, () => {
      if (left > 1 && monotonicNow() - until >= HELD_LOOP_MS) look(left - 1);
      else fire();
    });
  };
  // A due time past one timer's reach (an upgrade grace of 30 days, a wait of 1e308 s) fired at
  // once: it is waited for in steps.
  const wait = () => {
    const left = due - monotonicNow();
    arm(left, () => {
      if (left > MAX_TIMER_MS) wait();
      else if (monotonicNow() - due < HELD_LOOP_MS) fire();
      else look(HELD_LOOP_LOOKS);
    });
  };
  wait();
  return {
    clear() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** {@link deadlineAt} `ms` from now. */
export function deadlineIn(
  ms: number,
  expire: () => void,
  options: { ref?: boolean } = {},
): Deadline {
  return deadlineAt(monotonicNow() + ms, expire, options);
}
