/**
 * The join request: try each address of a join token in turn, pinning the cluster certificate by
 * the token's fingerprint, until one member answers.
 *
 * @module
 */
import { monotonicNow } from "../cluster/monotonic_now.ts";
import type { JoinToken } from "../cluster/token.ts";
import { CohortError, type ErrorCode, UnavailableError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { PeerAnswer, PeerTransport } from "./peers.ts";
import type { JoinRequest, JoinResponse } from "./service.ts";

const CODES: Record<number, ErrorCode> = {
  400: "E_INVALID",
  403: "E_FORBIDDEN",
  404: "E_NOT_FOUND",
  409: "E_INCOMPATIBLE",
  503: "E_UNAVAILABLE",
};

/** How long one join attempt (one address) may take at most, in ms. */
export const JOIN_TIMEOUT_MS = 15_000;

/**
 * How long a whole join may wait for other members, in ms: the join requests to the token's
 * addresses, then, for a join cut short, asking to be taken out again. Each wait comes out of
 * it; what is left of the withdrawal then goes on in the background. `cohort init --token`
 * waits this long and a little more (the local steps after the admission).
 */
export const JOIN_DEADLINE_MS = 25_000;

/**
 * Of {@link JOIN_DEADLINE_MS}, what the join requests leave for taking a join cut short out
 * again, in ms.
 */
export const JOIN_UNDO_RESERVE_MS = 4000;

/** An address is not tried with less than this left before the deadline, in ms. */
export const MIN_ATTEMPT_MS = 500;

/**
 * The least one attempt is given while time is left, in ms, however many addresses remain: the
 * time left is shared among them, but a busy admitting member's claim round takes seconds.
 */
const SHARE_FLOOR_MS = 10_000;

/**
 * A member answered the join request with a refusal: it admitted nothing. Nothing was admitted
 * at all only when no address was skipped before it (`skipped` empty): one that did not answer
 * may have admitted the joiner and failed before its answer came back (a crash, a timeout).
 */
export class JoinRefusedError extends CohortError {
  /** The addresses tried before, that did not answer (`"host:port (why)"`). */
  skipped: readonly string[] = [];
  /** The address of the member that refused. */
  by = "";
}

/**
 * Sends the join request to the token's addresses in order. An address that does not answer,
 * or whose certificate does not match the token's fingerprint, is skipped; the first member that
 * answers decides: its admission is returned, its refusal is thrown with its own message (and
 * the addresses skipped before it). Each attempt waits at most {@link JOIN_TIMEOUT_MS} and no
 * later than `until` (on `now`'s clock, ms, monotonic by default); the addresses left when `until`
 * comes are not tried.
 *
 * @throws {JoinRefusedError} the refusal of the member that answered (with the addresses
 *   skipped before it).
 * @throws {UnavailableError} when no address could be reached by `until`, naming each address
 *   and what it did (one that timed out may still have admitted the joiner).
 */
export async function requestJoin(
  peers: PeerTransport,
  token: JoinToken,
  request: Omit<JoinRequest, "secret">,
  identity: { cert: string; key: string },
  logger: Logger,
  deadline: { until: number; now: () => number } = {
    until: Infinity,
    now: monotonicNow,
  },
): Promise<{ response: JoinResponse; via: string }> {
  const skipped: string[] = [];
  const addresses = token.join_addresses;
  let untried = 0;
  for (const [i, address] of addresses.entries()) {
    const left = deadline.until - deadline.now();
    if (left < MIN_ATTEMPT_MS) {
      untried = addresses.length - i;
      break;
    }
    let answer: PeerAnswer;
    try {
      answer = await peers.request({
        address,
        method: "POST",
        path: "/core/internal/cluster",
        body: { ...request, secret: token.secret },
        fingerprint: token.fingerprint,
        identity,
        // The time left is shared by the addresses left, so that one that does not answer
        // does not leave the next (which may refuse, and say why) without time to answer.
        timeoutMs: Math.ceil(
          Math.min(JOIN_TIMEOUT_MS, left, Math.max(left / (addresses.length - i), SHARE_FLOOR_MS)),
        ),
      });
    } catch (err) {
      const why = (err as Error).message;
      logger.warn("Join address skipped", { address, reason: why });
      skipped.push(`${address} (${why})`);
      continue;
    }
    const env = answer.body as { type?: string; error?: string; metadata?: unknown } | null;
    if (answer.status >= 400 || env?.type !== "sync") {
      const status = answer.status >= 400 ? answer.status : 502;
      const why = env?.error || `Join refused by ${address} with HTTP ${answer.status}`;
      const refused = new JoinRefusedError(
        CODES[status] ?? "E_INTERNAL",
        status,
        skipped.length
          ? `${why} (refused by ${address}; asked before it without an answer: ${
            skipped.join("; ")
          })`
          : why,
      );
      refused.skipped = skipped;
      refused.by = address;
      throw refused;
    }
    return { response: env.metadata as JoinResponse, via: address };
  }
  if (untried) {
    logger.warn("Join gave up: its deadline came", { skipped, untried });
    throw new UnavailableError(
      `Join gave up: no member answered the join request before the join's deadline ` +
        `(${JOIN_DEADLINE_MS / 1000} s in all): ${skipped.join("; ")}` +
        `; ${untried} more address${untried === 1 ? "" : "es"} not tried`,
    );
  }
  throw new UnavailableError(
    `Cannot join: no join address could be reached: ${skipped.join("; ")} ` +
      `(a join waits ${JOIN_DEADLINE_MS / 1000} s in all)`,
  );
}
