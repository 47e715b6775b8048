/**
 * JSON Schemas of what the API answers: the envelopes and each endpoint's `metadata`, as the
 * `components.schemas` of the OpenAPI document. They mirror the types of
 * `lib/daemon/service.ts`; tests validate real answers against them.
 *
 * @module
 */
import type { JsonSchema } from "./json_schema.ts";

const str: JsonSchema = { type: "string" };
const strings: JsonSchema = { type: "array", items: str };
const count: JsonSchema = { type: "integer", minimum: 0 };
const time: JsonSchema = { type: "string", format: "date-time" };

/** `$ref` to a component schema. */
export const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

function object(properties: Record<string, JsonSchema>, optional: string[] = []): JsonSchema {
  return {
    type: "object",
    properties,
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
  };
}

const verdict = object({
  verdict: {
    type: "string",
    enum: ["equal", "ahead", "behind", "diverged", "unknown"],
    description: "The other member's list against this member's (`ahead`: this member is ahead)",
  },
  missing: { ...strings, description: "Extensions the other member has and this member lacks" },
  extra: { ...strings, description: "Extensions this member has and the other lacks" },
});

const identity = object({ name: str, address: str, certificate: str });

const refusalFields: Record<string, JsonSchema> = {
  at: { ...time, description: "When the start was refused" },
  schema_internal_version: count,
  schema_external_version: count,
  extensions: { ...strings, description: "The extensions it tried (the first ones if many)" },
  extension_count: count,
  reason: { ...str, description: "The gate's reason" },
  summary: { ...str, description: '"start refused at T with versions …: reason"' },
};
const refusal: JsonSchema = {
  description: "cohort only: its last start was refused by the upgrade gate, with versions " +
    "it never ran (nobody counts it with them); shown until it next runs",
  ...object(refusalFields),
};

/** Component schemas by name. */
export const SCHEMAS: Record<string, JsonSchema> = {
  SyncEnvelope: {
    description: "Every successful answer (MicroCluster's LXD-style envelope)",
    ...object({
      type: { const: "sync" },
      status: { const: "Success" },
      status_code: { const: 200 },
      operation: { const: "" },
      error_code: { const: 0 },
      error: { const: "" },
      metadata: { description: "The answer itself: see each operation" },
    }),
  },
  ErrorEnvelope: {
    description: "Every failed answer: `error_code` repeats the HTTP status, `error` says why " +
      "(naming the field and the rule for a 400); a 500 never carries details",
    ...object({
      type: { const: "error" },
      status: { const: "" },
      status_code: { const: 0 },
      operation: { const: "" },
      error_code: { type: "integer", minimum: 400, maximum: 599 },
      error: str,
      metadata: { type: "null" },
    }),
  },
  ServerInfo: object({
    name: { ...str, description: "Member name (the host name before initialisation)" },
    address: { ...str, description: '"host:port" of the member\'s HTTPS listener, "" before init' },
    version: { ...str, description: "The embedding app's version" },
    ready: { type: "boolean", description: "Whether the member serves the cluster API" },
    extensions: { ...strings, description: "API extensions: cohort's (internal:…) first" },
  }),
  StopOutcome: object({
    stored: {
      type: "boolean",
      description: "Whether the store took everything the member had to write before it stopped",
    },
    problem: { ...str, description: "When not stored: why (the disk's fault), and what to do" },
  }, ["problem"]),
  ClusterMember: object({
    name: str,
    address: str,
    certificate: { ...str, description: "The member's certificate (PEM)" },
    fingerprint: { ...str, description: "Hex SHA-256 of the certificate" },
    role: { ...str, description: "voter, stand-by, spare, or PENDING until its join completed" },
    schema_internal_version: count,
    schema_external_version: count,
    last_heartbeat: {
      ...time,
      description: 'Last time this member heard from it; "0001-01-01T00:00:00Z" for never',
    },
    status: {
      ...str,
      description: "ONLINE, UNREACHABLE, SUSPECT, UPGRADING (runs the upgrade's target and " +
        "waits) or NEEDS UPGRADE (lacks the target)",
    },
    extensions: strings,
    extension_verdict: verdict,
    app_version: str,
    start_refused: refusal,
  }, ["start_refused"]),
  TokenInfo: object({ name: str, expires_at: { type: ["string", "null"], format: "date-time" } }),
  JoinResponse: object({
    cluster_cert: str,
    cluster_key: { ...str, description: "The cluster's private key (PEM)" },
    cluster_members: { type: "array", items: identity },
    trusted_member: identity,
    gossip_state: { description: "cohort only: the admitting member's gossip view" },
  }, ["gossip_state"]),
  ExtensionsReport: object({
    local: { ...strings, description: "This member's extensions" },
    cluster: {
      ...strings,
      description: "The longest prefix every member shares: safe to use cluster-wide",
    },
    members: { type: "object", additionalProperties: verdict },
  }),
  UpgradeReport: object({
    target: object({ schema_internal: count, schema_external: count, extensions: count }),
    complete: { type: "boolean" },
    done: strings,
    pending: { type: "array", items: object({ name: str, lacks: str }) },
    since: { ...time, description: "When this member first saw the current target" },
    waiting_since: { type: ["string", "null"], format: "date-time" },
    excluded: {
      ...strings,
      description: "Members no longer waited for: down for longer than --upgrade-dead-grace",
    },
    refused: {
      type: "array",
      description: "Members whose last start was refused, with what they tried",
      items: object({ name: str, ...refusalFields }),
    },
  }),
  SqlResults: object({
    results: {
      type: "array",
      items: {
        oneOf: [
          object({
            type: { const: "select" },
            columns: strings,
            rows: { type: "array", items: { type: "array" } },
          }),
          object({ type: { const: "exec" }, rows_affected: count }),
        ],
      },
    },
  }),
  ServerConfigs: {
    type: "object",
    description: "The app's extension servers (additional listeners) by name, as MicroCluster's " +
      '`map[string]ServerConfig`; `address` is `""` for a server not served',
    additionalProperties: object({
      address: { ...str, description: "host:port" },
      status: {
        type: "string",
        enum: ["unserved", "starting", "listening", "failed"],
        description: "cohort only (MicroCluster's clients ignore it): `unserved` has no " +
          "address, `starting` is not tried yet, `failed` is tried again later",
      },
      error: {
        ...str,
        description: "Why its last try failed (`failed` only), naming files relative to the " +
          "state directory",
      },
      attempts: { ...count, description: "Tries that failed in a row (`failed` only)" },
    }, ["error", "attempts"]),
  },
  SqlDump: object({ text: { ...str, description: "SQL statements recreating the store" } }),
  StatusSnapshot: {
    description: "The data of each `snapshot` event of `GET /core/control/events`",
    ...object({
      time,
      member: {
        allOf: [
          ref("ServerInfo"),
          object({
            status: {
              type: "string",
              enum: ["uninitialized", "starting", "waiting", "online", "stopping"],
            },
          }),
        ],
      },
      members: {
        type: "array",
        description: "As GET /core/1.0/cluster, without certificates",
        items: object({
          name: str,
          address: str,
          role: str,
          schema_internal_version: count,
          schema_external_version: count,
          last_heartbeat: time,
          status: str,
          extensions: strings,
          extension_verdict: verdict,
          app_version: str,
        }),
      },
      extensions: {
        oneOf: [object({ local: strings, cluster: strings }), { type: "null" }],
      },
      upgrade: {
        oneOf: [{
          allOf: [
            ref("UpgradeReport"),
            object({
              members: {
                type: "array",
                items: object({
                  name: str,
                  state: { type: "string", enum: ["done", "pending", "excluded"] },
                  lacks: str,
                  since: { ...time, description: "Done since, or pending since" },
                }, ["lacks"]),
              },
              refused: {
                type: "array",
                items: object({
                  time,
                  member: str,
                  kind: { type: "string", enum: ["join", "restart"] },
                  reason: str,
                }),
              },
            }),
          ],
        }, { type: "null" }],
      },
      events: {
        type: "array",
        items: object({
          id: count,
          time,
          kind: str,
          member: str,
          message: str,
        }, ["member"]),
      },
    }),
  },
};
