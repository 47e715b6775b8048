/**
 * The documentation of the endpoints members call on each other, and the SQL console (tag
 * `internal`, `routes/internal.ts`): a join, token claims, a leave, the removal question,
 * gating, SQL.
 *
 * @module
 */
import { JoinBody, ResetBody, SqlBody, TokenClaimBody } from "../structs.ts";
import { NAME, type OperationDoc, struct } from "./operation_doc.ts";
import { ref } from "./schemas.ts";

/** {@link OperationDoc} of each `internal` operation, keyed by `"METHOD /path"`. */
export const INTERNAL_OPERATIONS: Readonly<Record<string, OperationDoc>> = {
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
