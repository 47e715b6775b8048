/**
 * The documentation of the cluster API (tag `public`, MicroCluster's `/core/1.0`:
 * `routes/public.ts`, `records.ts`, `servers.ts`, `openapi.ts`): server info and readiness,
 * members and their removal, tokens, extensions and upgrades, the app's replicated records and
 * extension servers, this document.
 *
 * @module
 */
import { KeyPairBody, RecordBody, ServersBody } from "../structs.ts";
import { NAME, type OperationDoc, REVOKE_TOKEN, struct } from "./operation_doc.ts";
import { ref } from "./schemas.ts";

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

/** {@link OperationDoc} of each `public` operation, keyed by `"METHOD /path"`. */
export const PUBLIC_OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  "GET /": {
    tag: "public",
    summary: "The API versions served (MicroCluster's listing)",
    description: 'Readable by anyone, before `init` too: `["/1.0"]`, as MicroCluster answers ' +
      "(its API is served under `/core/1.0`).",
    access: "anyone",
    metadata: { type: "array", items: { type: "string" } },
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
    ...REVOKE_TOKEN,
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
  "PUT /core/1.0/cluster/certificates/:name": {
    tag: "public",
    summary: "Replace an extension server's key pair on every member (MicroCluster's)",
    description: "Checks the pair as one found on disk (400 naming `cert` or `key`: nothing " +
      "changes anywhere), writes it (both files or neither), has the server's listener present " +
      "it at once (open connections kept), then sends the request to every other member as a notification (`User-Agent: " +
      "lxd-cluster-notifier`: handled there alone). Answers the members that took it; 503 " +
      "naming each member that did not, and why. Before `init`, this member alone. `cluster` " +
      "and `server` are not supported (501); `ca` must be empty.",
    access: "trusted",
    params: { name: "The extension server's name" },
    body: struct(KeyPairBody),
    metadata: {
      type: "object",
      properties: {
        replaced_on: {
          type: "array",
          items: { type: "string" },
          description: "The members that hold the new pair, this one first",
        },
      },
      required: ["replaced_on"],
      additionalProperties: false,
    },
    errors: [404, 413, 501, 503, 507],
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
};
