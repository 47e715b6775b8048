/**
 * Time formatting shared by the API's member entries.
 *
 * @module
 */

/** RFC 3339 for a heartbeat in ms since the epoch; Go's zero time for "never". */
export function heartbeatTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : "0001-01-01T00:00:00Z";
}
