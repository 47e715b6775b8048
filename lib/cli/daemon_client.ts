/**
 * The CLI's view of a local daemon: requests over the control socket, envelopes unwrapped.
 *
 * @module
 */
import { CohortError } from "../errors.ts";
import { requestJson } from "../net/client.ts";
import { statePaths } from "../daemon/state_dir.ts";

/** A request the daemon answered with an error envelope. */
export class DaemonError extends Error {
  /** The HTTP status of the answer. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "DaemonError";
    this.status = status;
  }
}

/** Sends one request to the daemon of `stateDir` and returns the envelope's `metadata`. */
export async function callDaemon<T>(
  stateDir: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs?: number,
): Promise<T> {
  const { socket } = statePaths(stateDir);
  const { status, body: envelope } = await requestJson({
    method,
    path,
    body,
    socketPath: socket,
    timeoutMs,
  });
  const env = envelope as { type?: string; error?: string; metadata?: unknown } | undefined;
  if (status >= 400 || env?.type === "error") {
    throw new DaemonError(status, env?.error || `Request failed with HTTP ${status}`);
  }
  return env?.metadata as T;
}

/** Reports whether `err` means the daemon could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  return err instanceof CohortError && err.code === "E_UNAVAILABLE" &&
    !(err instanceof DaemonError);
}
