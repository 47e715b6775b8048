/**
 * The envelope helpers an app's handlers answer with, so an app endpoint speaks exactly as
 * cohort's own routes do (the LXD envelope of MicroCluster's API, §2).
 *
 * @example
 * ```ts
 * handler: async (request) => {
 *   const item = await find(request);
 *   if (!item) throw new NotFoundError("No such item"); // 404 envelope, code E_NOT_FOUND
 *   return syncResponse(item); // {"type":"sync","status":"Success",…,"metadata":item}
 * }
 * ```
 *
 * @module
 */
import { silentLogger } from "../lib/log.ts";
import { failure, sync } from "./envelope.ts";
import { errorResponse } from "./errors.ts";

export type { ErrorEnvelope, SyncEnvelope } from "./envelope.ts";

/** A sync envelope around `metadata` (JSON), HTTP `status` (default 200). */
export function syncResponse<T>(metadata: T, status = 200): Response {
  return sync(metadata, status);
}

/**
 * An error envelope: HTTP `status` (also its `error_code`) and `message`. Prefer throwing one of
 * cohort's errors (`InvalidInputError`, `NotFoundError`, …): it maps to the same envelope.
 */
export function failureResponse(status: number, message: string): Response {
  return failure(status, message);
}

/**
 * The error envelope of anything thrown: one of cohort's errors keeps its status and message;
 * anything else is a 500 "Internal server error" that says nothing more (never a stack or SQL).
 */
export function thrownResponse(err: unknown): Response {
  return errorResponse(err, silentLogger);
}
