/**
 * What an extension server's tries to listen left (`servers.ts`): its state, the wait before the
 * next try (after {@link RETRY_FIRST_MS}, twice as long each time up to {@link RETRY_MAX_MS}),
 * and whether a failure is news for the log.
 *
 * @module
 */
import type { TimerHandle } from "../cluster/clock.ts";
import { isCohortError } from "../errors.ts";

/** The first wait before a failed server is tried again, ms; each later one doubles. */
export const RETRY_FIRST_MS = 1_000;
/** The longest wait between two tries of a failed server, ms. */
export const RETRY_MAX_MS = 60_000;
/**
 * The longest wait before a listening server's certificate is looked at again, ms: a day (a
 * runtime's timer cannot wait past 2^31 ms, and the member's clock may have stepped since).
 */
export const WATCH_MAX_MS = 86_400_000;

/**
 * `unserved`: no address; `starting`: not tried yet (or being tried); `listening`; `failed`: its
 * last try failed, tried again later.
 */
export type ServerStatus = "unserved" | "starting" | "listening" | "failed";

/** What the member knows of one server besides its address. */
export interface Tried {
  status: ServerStatus;
  /** Why its last try failed (see {@link describe}), while `failed`. */
  error?: string;
  /** Tries that failed in a row, the first included. */
  attempts: number;
  /** The wait before the try after the next one, ms. */
  wait: number;
  /** The next try, or the next look at a listening server's certificate. */
  timer?: TimerHandle;
}

/**
 * The state a try that failed with `err` leaves after `before`: the wait before the next try,
 * and whether the failure is `news` to log. A pair refused stays refused at every try until it
 * is mended, and a line a minute of the same reason would bury the rest of the log.
 */
export function failedTry(
  before: Tried | undefined,
  err: unknown,
): { t: Tried; wait: number; news: boolean } {
  const error = describe(err);
  const failing = before?.status === "failed";
  const wait = failing ? before.wait : RETRY_FIRST_MS;
  return {
    t: {
      status: "failed",
      error,
      attempts: failing ? before.attempts + 1 : 1,
      wait: Math.min(wait * 2, RETRY_MAX_MS),
    },
    wait,
    news: !failing || before.error !== error,
  };
}

/**
 * Why a server could not listen, for `GET /core/1.0/daemon/servers`: cohort's own errors say it
 * without a path of the machine; another is named by its code only.
 */
function describe(err: unknown): string {
  if (isCohortError(err)) return err.message;
  const code = (err as { code?: unknown })?.code;
  return `could not listen (${typeof code === "string" ? code : "unexpected error"})`;
}
