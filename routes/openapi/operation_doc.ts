/**
 * The shape of one operation's documentation ({@link OperationDoc}) beyond what the router
 * knows, and the pieces the groups of operations share (`*_operations.ts`, joined in
 * `operations.ts`).
 *
 * @module
 */
import type { Struct } from "superstruct";
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

/** The path parameter of an operation on one member, by name. */
export const NAME = { name: "A member name" };

/** A request body's struct, typed as {@link OperationDoc.body} holds it. */
// deno-lint-ignore no-explicit-any
export const struct = (s: Struct<any, any>) => s as Struct<unknown, unknown>;

/**
 * What revoking a join token takes and answers, wherever it is served (the control socket's
 * `DELETE /core/control/tokens/:name`, the cluster API's `DELETE /core/1.0/tokens/:name`): both
 * call one `revokeToken`, so their parameters, answer and errors are one.
 */
export const REVOKE_TOKEN: Pick<OperationDoc, "params" | "metadata" | "errors"> = {
  params: NAME,
  metadata: { type: "null" },
  errors: [404, 503, 507],
};
