/**
 * The documentation of the control socket's administration endpoints (tag `control`,
 * `routes/control.ts`): bootstrap or join, join tokens, the app version, shutdown.
 *
 * @module
 */
import { AppVersionBody, ControlBody, TokenBody } from "../structs.ts";
import { type OperationDoc, REVOKE_TOKEN, struct } from "./operation_doc.ts";
import { ref } from "./schemas.ts";

/** {@link OperationDoc} of each `control` operation, keyed by `"METHOD /path"`. */
export const CONTROL_OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  "POST /core/control": {
    tag: "control",
    summary: "Bootstrap a cluster, or join one with a token",
    description: "Exactly one of `bootstrap: true` and `join_token` (400 otherwise). " +
      "409 when the member is already initialised or the cluster refuses the join.",
    access: "local",
    body: struct(ControlBody),
    metadata: ref("ServerInfo"),
    errors: [409, 503, 507],
  },
  "POST /core/control/tokens": {
    tag: "control",
    summary: "Issue a join token for a new member",
    description: "`expire_after` in nanoseconds (MicroCluster's unit); 0 never expires.",
    access: "local",
    body: struct(TokenBody),
    metadata: { type: "string", description: "The join token (base64 JSON)" },
    errors: [409, 503, 507],
  },
  "GET /core/control/tokens": {
    tag: "control",
    summary: "List the unused, unexpired join tokens",
    access: "local",
    metadata: { type: "array", items: ref("TokenInfo") },
    errors: [503],
  },
  "DELETE /core/control/tokens/:name": {
    tag: "control",
    summary: "Revoke the join token of a member",
    access: "local",
    ...REVOKE_TOKEN,
  },
  "PUT /core/control/app-version": {
    tag: "control",
    summary: "Change this member's app version until it stops",
    access: "local",
    body: struct(AppVersionBody),
    metadata: ref("ServerInfo"),
    errors: [409, 503, 507],
  },
  "POST /core/control/shutdown": {
    tag: "control",
    summary: "Stop the daemon once this answer is sent",
    description: "Answers `null` at once; with `wait`, once the stop has written what it had " +
      "to (or could not), with how it went (the daemon then exits 1 when not stored).",
    access: "local",
    flags: { wait: "Answer once the stop's writes are done, with its StopOutcome" },
    metadata: { oneOf: [{ type: "null" }, ref("StopOutcome")] },
  },
};
