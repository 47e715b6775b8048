/**
 * Turns anything a handler throws into an error envelope. cohort's own errors keep their status
 * and message; validation errors become 400s naming the field and the rule; everything else is an
 * internal fault, logged here and answered with a generic 500 that leaks nothing (no stack, no
 * SQL, no parameters).
 *
 * @module
 */
import { StructError } from "superstruct";
import { isCohortError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { failure } from "./envelope.ts";

/**
 * Describes a superstruct failure without echoing the offending value (it may be a secret such
 * as a join token): superstruct's own messages end in `but received: <value>`.
 */
export function describeStructError(err: StructError): string {
  const parts = err.failures().map((f) => {
    const field = f.path.length ? f.path.join(".") : "body";
    let rule = f.message.replace(/,? but received[\s\S]*$/, "");
    if (f.type === "never") rule = "unknown field";
    return `${field}: ${rule}`;
  });
  return `Invalid request body: ${parts.join("; ")}`;
}

/** Maps a thrown value to an error envelope (see module docs). */
export function errorResponse(err: unknown, logger: Logger, request?: Request): Response {
  if (err instanceof StructError) return failure(400, describeStructError(err));
  if (isCohortError(err)) return failure(err.status, err.message);
  // Only the error's class and code are logged: messages of driver errors can embed bound
  // parameters (tokens, secrets).
  const e = err as { name?: string; code?: unknown };
  logger.error("Request failed with an internal error", {
    method: request?.method,
    path: request ? new URL(request.url).pathname : undefined,
    error_name: e?.name,
    error_code: e?.code,
  });
  return failure(500, "Internal server error");
}
