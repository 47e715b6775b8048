/**
 * The documentation of the operators' endpoints (tag `operator`, `routes/metrics.ts` and
 * `events.ts`): metrics for Prometheus, the status as an event stream.
 *
 * @module
 */
import type { OperationDoc } from "./operation_doc.ts";
import { ref } from "./schemas.ts";

/** {@link OperationDoc} of each `operator` operation, keyed by `"METHOD /path"`. */
export const OPERATOR_OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  "GET /core/1.0/metrics": {
    tag: "operator",
    summary: "The member's metrics, for Prometheus",
    description: "Members by status and role, this member's phase, each member's versions and " +
      "verdict, gossip traffic and health, HTTP latency, join and upgrade durations, process " +
      "metrics. A scraper without a member certificate uses the daemon's plain-HTTP " +
      "`--metrics-address` listener instead.",
    access: "trusted",
    content: {
      type: "text/plain",
      schema: { type: "string" },
      description: "The Prometheus text exposition format, version 0.0.4 (not in an envelope)",
    },
    errors: [501],
  },
  "GET /core/control/events": {
    tag: "operator",
    summary: "The member's status as a server-sent event stream",
    description: "Each `snapshot` event's data is the whole status as JSON: this member, every " +
      "member (name, address, role, status, versions, extensions, verdict, last heartbeat), " +
      "the extensions shared by every member, the upgrade (target, members done and " +
      "pending and since when, refused attempts, members excluded by the dead grace) and the " +
      "recent events. The first is sent at once, the next after each change; a comment every " +
      "15 s keeps an idle stream open; the stream ends when the member stops. `cohort ui` " +
      "serves a page built on it. With `Accept: application/json` (and not " +
      "`text/event-stream`) the answer is the current snapshot alone, in a sync envelope.",
    access: "local",
    content: {
      type: "text/event-stream",
      schema: { type: "string", description: "Server-sent events" },
      description: "`retry`, then `event: snapshot` events whose `data` is a StatusSnapshot " +
        "(or, for `Accept: application/json`, the snapshot in a sync envelope)",
    },
    metadata: ref("StatusSnapshot"),
    errors: [501],
  },
};
