/**
 * Access and readiness guards shared by the handlers. Each returns nothing when the request may
 * proceed and throws a cohort error (mapped to 403 or 503) when it may not.
 *
 * @module
 */
import { ForbiddenError, UnavailableError } from "../lib/errors.ts";
import type { Caller, MemberService, MemberStatus } from "../lib/daemon/service.ts";

/** MicroCluster's database status sentences, used in 503 messages. */
export const STATUS_MESSAGES: Readonly<Record<MemberStatus, string>> = {
  uninitialized: "Database is not yet initialized",
  starting: "Database is still starting",
  waiting: "Database is waiting for an upgrade",
  online: "Database is online",
  stopping: "Daemon is shutting down",
};

/** Allows only the local control socket. */
export function requireLocal(caller: Caller, what: string): void {
  if (caller.transport !== "unix") {
    throw new ForbiddenError(`${what} is only served on the local control socket`);
  }
}

/** Allows the control socket and callers presenting a cluster member's certificate. */
export function requireTrusted(service: MemberService, caller: Caller): void {
  if (caller.transport === "unix") return;
  if (caller.peerFingerprint && service.isTrusted(caller.peerFingerprint)) return;
  throw new ForbiddenError(
    caller.peerFingerprint
      ? "Client certificate is not trusted by this cluster"
      : "A trusted client certificate is required",
  );
}

/**
 * Allows only an online member; otherwise a 503 with the member's status, naming the members a
 * waiting member waits for.
 */
export function requireOnline(service: MemberService): void {
  const status = service.status();
  if (status === "online") return;
  if (status === "waiting") {
    const names = service.waitingFor();
    throw new UnavailableError(
      names.length
        ? `${STATUS_MESSAGES.waiting}: ${names.length} member${
          names.length > 1 ? "s have" : " has"
        } not upgraded yet: ${names.map((n) => `"${n}"`).join(", ")}`
        : STATUS_MESSAGES.waiting,
    );
  }
  throw new UnavailableError(STATUS_MESSAGES[status]);
}
