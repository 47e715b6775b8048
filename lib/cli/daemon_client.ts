/**
 * The CLI's view of a local daemon: requests over the control socket, envelopes unwrapped.
 *
 * @module
 */
import { CohortError, UnavailableError } from "../errors.ts";
import { requestJson } from "../net/client.ts";
import { lockHolder, statePaths } from "../daemon/state_dir.ts";

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
  const paths = statePaths(stateDir);
  const { status, body: envelope } = await requestJson({
    method,
    path,
    body,
    socketPath: paths.socket,
    timeoutMs,
  }).catch((err: unknown) => {
    throw unreachableWhileRunning(err, paths);
  });
  const env = envelope as { type?: string; error?: string; metadata?: unknown } | undefined;
  if (status >= 400 || env?.type === "error") {
    throw new DaemonError(status, env?.error || `Request failed with HTTP ${status}`);
  }
  return env?.metadata as T;
}

/**
 * `err`, or, when the control socket is missing or refuses connections while the daemon holding
 * the state directory runs, what that likely means: "is it running?" misled the operator of a
 * member at its limit of open files, whose socket (under Deno) is bound again only once a
 * descriptor is free.
 */
function unreachableWhileRunning(err: unknown, paths: ReturnType<typeof statePaths>): unknown {
  const code = (err as { cause?: { code?: unknown } }).cause?.code;
  if (!(err instanceof UnavailableError) || (code !== "ENOENT" && code !== "ECONNREFUSED")) {
    return err;
  }
  const pid = lockHolder(paths);
  if (pid === undefined) return err;
  return new UnavailableError(
    `The cohort daemon at "${paths.socket}" runs (pid ${pid}) but does not accept connections ` +
      "on its control socket: it may be starting or stopping, or be out of file descriptors " +
      "(see its log)",
    { cause: err },
  );
}

/** Reports whether `err` means the daemon could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  return err instanceof CohortError && err.code === "E_UNAVAILABLE" &&
    !(err instanceof DaemonError);
}
