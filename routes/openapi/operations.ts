/**
 * What the OpenAPI document says about each route beyond what the router knows: summary, access
 * rule, request body struct, answer and errors, keyed by `"METHOD /path"` exactly as the route
 * is registered (itty's `:param` syntax). `document.ts` joins it with the live route table and
 * fails on a route without an entry or an entry without a route.
 *
 * @module
 */
import type { Struct } from "superstruct";
import {
  AppVersionBody,
  ControlBody,
  JoinBody,
  RecordBody,
  ResetBody,
  ServersBody,
  SqlBody,
  TokenBody,
  TokenClaimBody,
} from "../structs.ts";
import { ref } from "./schemas.ts";
import type { JsonSchema } from "./json_schema.ts";

/**
 * Who may call an endpoint: `anyone`; `token` (no certificate, the join token's secret is the
 * credential); `trusted` (the control socket, or HTTPS with a cluster member's certificate);
 * `local` (the control socket only).
 */
export type Access = "anyone" | "token" | "trusted" | "local";

/** One operation's documentation. */
export interface OperationDoc {
  /** Groups operations: `control`, `public`, `internal` or `operator`. */
  tag: string;
  summary: string;
  description?: string;
  access: Access;
  /** The request body's struct (as the handler validates it). */
  body?: Struct<unknown, unknown>;
  /** The body may be left out. @default false */
  bodyOptional?: boolean;
  /** Query flags (`1` or `true` set them). */
  flags?: Record<string, string>;
  /** Query parameters taking any string. */
  query?: Record<string, string>;
  /** Path parameters. */
  params?: Record<string, string>;
  /** The `metadata` of the sync envelope. */
  metadata?: JsonSchema;
  /** The success status. @default 200 */
  status?: number;
  /** A non-JSON answer instead: media type and schema. */
  content?: { type: string; schema: JsonSchema; description: string };
  /** Error statuses this operation answers besides 500 (400/403 follow from body and access). */
  errors?: number[];
}

const NAME = { name: "A member name" };
const UNINITIALIZED_503 = 503;
const RECORD_KEY = { key: "A record key, percent-encoded (1 to 256 characters)" };
const RECORD_ENTRY = {
  type: "object",
  properties: {
    key: { type: "string" },
    value: { description: "Any JSON value but null" },
    version: { type: "integer", description: "The writer's clock at the write, ms" },
    writer: { type: "string", description: "The member that wrote it" },
  },
  required: ["key", "value", "version", "writer"],
  additionalProperties: false,
};

// deno-lint-ignore no-explicit-any
const struct = (s: Struct<any, any>) => s as Struct<unknown, unknown>;

/** Every documented operation. */
export const OPERATIONS: Readonly<Record<string, OperationDoc>> = {
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
    params: NAME,
    metadata: { type: "null" },
    errors: [404, 503, 507],
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
  "GET /core/1.0": {
    tag: "public",
    summary: "Server info",
    description: "Readable by anyone: a joiner and a health probe need it.",
    access: "anyone",
    metadata: ref("ServerInfo"),
  },
  "GET /core/1.0/ready": {
    tag: "public",
    summary: "Whether the daemon has started (MicroCluster's readiness)",
    description: "200 once the daemon has started, also before `init` (as MicroCluster); 503 " +
      "while an initialised member is still starting or waits for an upgrade (naming the " +
      "members behind), and while the daemon stops.",
    access: "trusted",
    metadata: { type: "null" },
    errors: [503],
  },
  "DELETE /core/1.0/cluster/:name": {
    tag: "public",
    summary: "Remove a member from the cluster",
    description: "The member leaves and resets; `force` removes it even when unreachable.",
    access: "trusted",
    params: NAME,
    flags: { force: "Remove the member even when it cannot be reached or refuses" },
    metadata: { type: "null" },
    errors: [404, 409, 503, 507],
  },
  "DELETE /core/1.0/tokens/:name": {
    tag: "public",
    summary: "Revoke the join token of a member (from any member)",
    access: "trusted",
    params: NAME,
    metadata: { type: "null" },
    errors: [404, 503, 507],
  },
  "GET /core/1.0/extensions": {
    tag: "public",
    summary: "This member's extensions, the cluster's common ones, each member's verdict",
    access: "trusted",
    metadata: ref("ExtensionsReport"),
    errors: [UNINITIALIZED_503],
  },
  "GET /core/1.0/daemon/servers": {
    tag: "public",
    summary: "The addresses of the app's extension servers",
    description: "The app's endpoint groups served on addresses of their own (MicroCluster's " +
      "additional listeners). Empty for an app without any.",
    access: "trusted",
    metadata: ref("ServerConfigs"),
    errors: [UNINITIALIZED_503],
  },
  "PUT /core/1.0/daemon/servers": {
    tag: "public",
    summary: "Move the app's extension servers to new addresses",
    description: "Sets the addresses of the named servers (the others keep theirs), keeps them " +
      "in the state directory, and restarts those listeners. 400 for a name the app does not " +
      "serve, an invalid address, or one already in use (the member's own included).",
    access: "trusted",
    body: struct(ServersBody),
    metadata: { type: "null" },
    errors: [UNINITIALIZED_503],
  },
  "GET /core/1.0/upgrade": {
    tag: "public",
    summary: "Upgrade progress: target versions, members done and pending",
    access: "trusted",
    metadata: ref("UpgradeReport"),
    errors: [UNINITIALIZED_503],
  },
  "GET /core/1.0/records": {
    tag: "public",
    summary: "List the app's replicated records",
    description: "Every key starting with `prefix` (default: all), sorted by key; the same on " +
      "every member once gossip has spread the last write (see the README's Replicated records).",
    access: "trusted",
    query: { prefix: "Only keys starting with this text" },
    metadata: { type: "array", items: RECORD_ENTRY },
    errors: [503],
  },
  "GET /core/1.0/records/:key": {
    tag: "public",
    summary: "Read one replicated record",
    access: "trusted",
    params: RECORD_KEY,
    metadata: RECORD_ENTRY,
    errors: [404, 413, 503],
  },
  "PUT /core/1.0/records/:key": {
    tag: "public",
    summary: "Write one replicated record (last writer wins)",
    description: "`value`: any JSON but `null`, at most 4096 characters of JSON; 413 past a " +
      "limit (key, value, 1024 keys, 256 KiB of values in all).",
    access: "local",
    params: RECORD_KEY,
    body: struct(RecordBody),
    metadata: RECORD_ENTRY,
    errors: [413, 503, 507],
  },
  "DELETE /core/1.0/records/:key": {
    tag: "public",
    summary: "Delete one replicated record",
    description: "`deleted` is false when the key had no value (nothing is written then).",
    access: "local",
    params: RECORD_KEY,
    metadata: {
      type: "object",
      properties: { deleted: { type: "boolean" } },
      required: ["deleted"],
      additionalProperties: false,
    },
    errors: [413, 503, 507],
  },
  "GET /core/1.0/cluster": {
    tag: "public",
    summary: "The cluster's members as this member sees them",
    access: "trusted",
    metadata: { type: "array", items: ref("ClusterMember") },
    errors: [UNINITIALIZED_503],
  },
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
  "GET /core/1.0/openapi.json": {
    tag: "public",
    summary: "This document",
    access: "trusted",
    content: {
      type: "application/json",
      schema: { type: "object", description: "An OpenAPI 3.1 document" },
      description: "The OpenAPI document of every endpoint (not in an envelope)",
    },
  },
  "POST /core/internal/cluster": {
    tag: "internal",
    summary: "A prospective member asks to join",
    description: "No certificate needed: the token's secret is the credential. 403 for a bad " +
      "token or certificate, or a token another machine holds; 409 for a name or address in " +
      "use or incompatible versions (naming what differs); 503 when a majority of the " +
      "roster could not confirm the token's single use (naming the members not reached: " +
      "the cluster is partitioned or members are down), or the member is not online.",
    access: "token",
    body: struct(JoinBody),
    metadata: ref("JoinResponse"),
    errors: [409, 429, 503, 507],
  },
  "POST /core/internal/tokens/claim": {
    tag: "internal",
    summary: "Claim a join token for one joining machine (cohort only)",
    description: "Asked by the member about to admit a joiner, of every member of its roster: " +
      "a join is admitted only once a majority of the members claimed its token for that " +
      "machine, and a member claims a token for one machine only. Durable before the answer. " +
      "403 when this member knows the token used, revoked, expired or issued for another " +
      "name, or another machine holds it; 409 when a member of that name exists; 429 when " +
      "too many tokens are claimed at once; 503 while this member does not serve its view.",
    access: "trusted",
    body: struct(TokenClaimBody),
    metadata: { type: "null" },
    errors: [409, 429, 503, 507],
  },
  "POST /core/internal/tokens/release": {
    tag: "internal",
    summary: "Release a claim on a join token (cohort only)",
    description: "The admitting member refused the join: the token is free for another " +
      "attempt. A no-op unless the same machine holds the claim (for the same `round`, " +
      "when both name one); a release naming a round whose claim has not arrived has that " +
      "claim refused (503) when it does.",
    access: "trusted",
    body: struct(TokenClaimBody),
    metadata: { type: "null" },
    errors: [503],
  },
  "PUT /core/internal/cluster/:name": {
    tag: "internal",
    summary: "This member is asked to leave",
    description: "Runs the preRemove hook (a throw refuses, unless `force`), then resets " +
      "once answered. 403 when `name` is not this member. The body may be left out, as " +
      "MicroCluster's client does (`?force=1` instead).",
    access: "trusted",
    params: NAME,
    flags: { force: "Leave even when the preRemove hook refuses" },
    body: struct(ResetBody),
    bodyOptional: true,
    metadata: { type: "null" },
    errors: [409],
  },
  "GET /core/internal/cluster/:name": {
    tag: "internal",
    summary: "Whether a member was removed (cohort only)",
    description: "Asked by a restarting member about itself before it opens: it is no longer " +
      "trusted once removed, so its removal is told to the certificate that held the name, " +
      "when this member saw that certificate leave it (removed, or replaced by a new member " +
      "under that name, admitted after its removal); that a member was not removed, only to " +
      "a trusted caller. Any other caller gets 403, whatever the name.",
    access: "anyone",
    params: NAME,
    metadata: {
      type: "object",
      properties: {
        removed: { type: "boolean" },
        version: {
          type: "integer",
          description: "The tombstone's version (or the new holder's record's), when removed",
        },
      },
      required: ["removed"],
    },
    errors: [403, 503],
  },
  "PATCH /core/internal/database": {
    tag: "internal",
    summary: "Re-run upgrade gating now",
    access: "trusted",
    metadata: { type: "null" },
  },
  "GET /core/internal/sql": {
    tag: "internal",
    summary: "Dump the store as SQL",
    access: "local",
    flags: { schema: "Dump the schema only" },
    query: { timeout: "Seconds the dump may take, 0.001 to 60 (the default)" },
    metadata: ref("SqlDump"),
    errors: [400, 503, 507],
  },
  "POST /core/internal/sql": {
    tag: "internal",
    summary: "Run `;`-separated SQL statements against the local store",
    access: "local",
    body: struct(SqlBody),
    metadata: ref("SqlResults"),
    errors: [503, 507],
  },
};

/**
 * Endpoints served outside the router (the gossip WebSocket upgrade), documented alike; the
 * route-coverage test checks each path against the code that serves it.
 */
export const OTHER_OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  "GET /core/internal/gossip": {
    tag: "internal",
    summary: "Gossip: a WebSocket upgrade between members",
    description: "Mutual TLS with a member certificate; the dialler names its own address in " +
      "the `x-cohort-address` header. Frames are the gossip protocol's JSON messages.",
    access: "trusted",
    status: 101,
    content: {
      type: "application/json",
      schema: { type: "object", description: "Gossip protocol messages, one per frame" },
      description: "101 Switching Protocols, then WebSocket frames",
    },
    errors: [400],
  },
};
