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
 * {@link sync} for metadata already serialised and encoded: `metadataUtf8`, the UTF-8 bytes of
 * valid JSON in chunks, gives the same bytes as `sync(JSON.parse(metadata))` would, without
 * serialising or encoding the metadata again.
 */
export function syncUtf8(metadataUtf8: readonly Uint8Array[], status = 200): Response {
  return jsonResponse([SYNC_HEAD, ...metadataUtf8, SYNC_TAIL], status);
}

/** A sync envelope's bytes up to its metadata (the key order of {@link sync}'s object). */
const SYNC_HEAD = new TextEncoder().encode(
  JSON.stringify({ ...SYNC_FIELDS, metadata: null }).slice(0, -"null}".length),
);
const SYNC_TAIL = new TextEncoder().encode("}");

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
