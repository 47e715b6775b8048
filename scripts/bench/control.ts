/**
 * One request to a member's control socket, as the benchmarks that form clusters of real
 * members make them (what `cohort` commands send).
 *
 * @module
 */
import { join } from "node:path";
import { requestJson } from "../../lib/net/client.ts";

/**
 * Sends `method path` (with JSON `body`) to the member whose state directory is `dir` and
 * returns the answer's `metadata`; an answer of 400 or more throws, naming `label` (the
 * member's name) and the answer. `timeoutMs`: how long the answer may take (default 60 s).
 */
export async function control(
  dir: string,
  label: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<unknown> {
  const r = await requestJson({
    method,
    path,
    body,
    socketPath: join(dir, "control.socket"),
    timeoutMs,
  });
  if (r.status >= 400) throw new Error(`${method} ${path} on ${label}: ${JSON.stringify(r.body)}`);
  return (r.body as { metadata: unknown }).metadata;
}
