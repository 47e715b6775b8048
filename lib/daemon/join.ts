/**
 * The join request: try each address of a join token in turn, pinning the cluster certificate by
 * the token's fingerprint, until one member answers.
 *
 * @module
 */
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

/** How long one join attempt may take, in ms. */
export const JOIN_TIMEOUT_MS = 15_000;

/**
 * A member answered the join request with a refusal: it admitted nothing. Nothing was admitted
 * at all only when no address was skipped before it (`skipped` empty): one that did not answer
 * may have admitted the joiner and failed before its answer came back (a crash, a timeout).
 */
export class JoinRefusedError extends CohortError {
  /** The addresses tried before, that did not answer (`"host:port (why)"`). */
  skipped: readonly string[] = [];
}

/**
 * Sends the join request to the token's addresses in order. An address that does not answer,
 * or whose certificate does not match the token's fingerprint, is skipped; the first member that
 * answers decides: its admission is returned, its refusal is thrown with its own message.
 *
 * @throws {JoinRefusedError} the refusal of the member that answered (with the addresses
 *   skipped before it).
 * @throws {UnavailableError} when no address could be reached (one that timed out may still
 *   have admitted the joiner).
 */
export async function requestJoin(
  peers: PeerTransport,
  token: JoinToken,
  request: Omit<JoinRequest, "secret">,
  identity: { cert: string; key: string },
  logger: Logger,
): Promise<{ response: JoinResponse; via: string }> {
  const skipped: string[] = [];
  for (const address of token.join_addresses) {
    let answer: PeerAnswer;
    try {
      answer = await peers.request({
        address,
        method: "POST",
        path: "/core/internal/cluster",
        body: { ...request, secret: token.secret },
        fingerprint: token.fingerprint,
        identity,
        timeoutMs: JOIN_TIMEOUT_MS,
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
      const refused = new JoinRefusedError(
        CODES[status] ?? "E_INTERNAL",
        status,
        env?.error || `Join refused by ${address} with HTTP ${answer.status}`,
      );
      refused.skipped = skipped;
      throw refused;
    }
    return { response: env.metadata as JoinResponse, via: address };
  }
  throw new UnavailableError(
    `Cannot join: no join address could be reached: ${skipped.join("; ")}`,
  );
}
