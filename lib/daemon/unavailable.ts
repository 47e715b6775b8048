/**
 * The sentences a member answers with when it cannot serve a request in its current state:
 * MicroCluster's database statuses, and for a waiting member the members it waits for.
 *
 * @module
 */
import { UnavailableError } from "../errors.ts";
import type { MemberStatus } from "./service.ts";

const MESSAGES: Readonly<Record<MemberStatus, string>> = {
  uninitialized: "Database is not yet initialized",
  starting: "Database is still starting",
  waiting: "Database is waiting for an upgrade",
  online: "Database is online",
  stopping: "Daemon is shutting down",
};

/** Why a member in `status` cannot serve; `waitingFor` names the members a waiting one waits for. */
export function unavailableMessage(status: MemberStatus, waitingFor: readonly string[]): string {
  if (status !== "waiting" || !waitingFor.length) return MESSAGES[status];
  const n = waitingFor.length;
  return `${MESSAGES.waiting}: ${n} member${n > 1 ? "s have" : " has"} not upgraded yet: ${
    waitingFor.map((w) => `"${w}"`).join(", ")
  }`;
}

/** The error for a request that needs an online member. */
export function unavailable(status: MemberStatus, waitingFor: readonly string[]): UnavailableError {
  return new UnavailableError(unavailableMessage(status, waitingFor));
}

/** The message of a member that learnt it was removed and is resetting. */
export const REMOVED_MESSAGE =
  "This member was removed from the cluster: it serves nothing but its status while it resets";
