/**
 * What the OpenAPI document says about each route beyond what the router knows: summary, access
 * rule, request body struct, answer and errors ({@link OperationDoc}), keyed by `"METHOD /path"`
 * exactly as the route is registered (itty's `:param` syntax), one group per tag
 * (`control_operations.ts`, `public_operations.ts`, `operator_operations.ts`,
 * `internal_operations.ts`). `document.ts` joins it with the live route table and
 * fails on a route without an entry or an entry without a route.
 *
 * @module
 */
import { CONTROL_OPERATIONS } from "./control_operations.ts";
import { INTERNAL_OPERATIONS } from "./internal_operations.ts";
import type { OperationDoc } from "./operation_doc.ts";
import { OPERATOR_OPERATIONS } from "./operator_operations.ts";
import { PUBLIC_OPERATIONS } from "./public_operations.ts";

/** Every documented operation of the router. */
export const OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  ...CONTROL_OPERATIONS,
  ...PUBLIC_OPERATIONS,
  ...OPERATOR_OPERATIONS,
  ...INTERNAL_OPERATIONS,
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
