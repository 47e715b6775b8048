/**
 * LXD-style JSON envelopes, the shape of every cohort response (MicroCluster §2).
 *
 * @module
 */

/** A successful response envelope. */
export interface SyncEnvelope<T> {
  type: "sync";
  status: "Success";
  status_code: 200;
  operation: "";
  error_code: 0;
  error: "";
  metadata: T;
}

/** An error response envelope. `error_code` repeats the HTTP status. */
export interface ErrorEnvelope {
  type: "error";
  status: "";
  status_code: 0;
  operation: "";
  error_code: number;
  error: string;
  metadata: null;
}

import { jsonResponse } from "../lib/net/json_response.ts";

/** Wraps `metadata` in a sync envelope with HTTP status `status` (default 200). */
export function sync<T>(metadata: T, status = 200): Response {
  const body: SyncEnvelope<T> = {
    type: "sync",
    status: "Success",
    status_code: 200,
    operation: "",
    error_code: 0,
    error: "",
    metadata,
  };
  return jsonResponse(JSON.stringify(body), status);
}

/** An error envelope with HTTP status `status` and a human-readable `message`. */
export function failure(
  status: number,
  message: string,
  headers?: Record<string, string>,
): Response {
  const body: ErrorEnvelope = {
    type: "error",
    status: "",
    status_code: 0,
    operation: "",
    error_code: status,
    error: message,
    metadata: null,
  };
  return jsonResponse(JSON.stringify(body), status, headers);
}
