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

/** A sync envelope's fields before its metadata, in MicroCluster's order. */
const SYNC_FIELDS = {
  type: "sync",
  status: "Success",
  status_code: 200,
  operation: "",
  error_code: 0,
  error: "",
} as const;

/** Wraps `metadata` in a sync envelope with HTTP status `status` (default 200). */
export function sync<T>(metadata: T, status = 200): Response {
  const body: SyncEnvelope<T> = { ...SYNC_FIELDS, metadata };
  return jsonResponse(JSON.stringify(body), status);
}

/**
 * {@link sync} for metadata already serialised (`metadataJson` must be valid JSON): the same
 * text as `sync(JSON.parse(metadataJson))`, without serialising the metadata again.
 */
export function syncJson(metadataJson: string, status = 200): Response {
  return jsonResponse(`${SYNC_HEAD}${metadataJson}}`, status);
}

/** A sync envelope's text up to its metadata (the key order of {@link sync}'s object). */
const SYNC_HEAD = JSON.stringify({ ...SYNC_FIELDS, metadata: null }).slice(0, -"null}".length);

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
