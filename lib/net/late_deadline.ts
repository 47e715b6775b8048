/**
 * A deadline that judges "nothing arrived in time" fairly after the event loop was held.
 *
 * A loop held outside its idle wait (a member stopped with SIGSTOP and continued, a VM paused, a
 * machine swapping, a long task) runs its expired timers before it reads its sockets again. A
 * deadline that fires then would judge with bytes that arrived in time still waiting unread in
 * the socket, and close a connection whose client did nothing wrong. A deadline that fires
 * clearly late ({@link HELD_LOOP_MS}) therefore gives the sockets one short look more
 * ({@link HELD_LOOP_GRACE_MS}: a poll for I/O runs meanwhile) before it expires; one met on time
 * expires at once, as a plain timer would.
 *
 * @module
 */
import { monotonicNow } from "../cluster/monotonic_now.ts";

/** How late (ms) a deadline must fire to count as met by a held loop. */
export const HELD_LOOP_MS = 100;
/** The look more (ms) a deadline met by a held loop gives the sockets before it expires. */
export const HELD_LOOP_GRACE_MS = 50;

/** A deadline armed with {@link deadlineAt} or {@link deadlineIn}. */
export interface Deadline {
  /** Disarms it: `expire` is not called (again). Idempotent. */
  clear(): void;
}

/**
 * Calls `expire` once the monotonic clock (`monotonicNow()`, ms) reaches `due`, or
 * {@link HELD_LOOP_GRACE_MS} after the timer ran when it ran more than {@link HELD_LOOP_MS}
 * past `due` (the loop was held, or `due` had passed already when armed: what arrived meanwhile
 * is read first). The timer does not keep the process alive unless `options.ref` is true (a
 * caller awaiting it may hold nothing else open).
 */
export function deadlineAt(
  due: number,
  expire: () => void,
  options: { ref?: boolean } = {},
): Deadline {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number, then: () => void) => {
    timer = setTimeout(then, Math.max(0, ms));
    if (!options.ref) (timer as { unref?: () => void }).unref?.();
  };
  const fire = () => {
    timer = undefined;
    expire();
  };
  arm(due - monotonicNow(), () => {
    if (monotonicNow() - due < HELD_LOOP_MS) fire();
    else arm(HELD_LOOP_GRACE_MS, fire);
  });
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
