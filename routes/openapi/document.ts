/**
 * Builds the OpenAPI 3.1 document of cohort's API from the router's own route table, the
 * operations' descriptions (`operations.ts`) and the request structs (`struct_schema.ts`), so
 * a route or a body rule changes the document with it.
 *
 * @module
 */
import type { RouteEntry } from "itty-router";
import type { Access, OperationDoc } from "./operation_doc.ts";
import { OPERATIONS, OTHER_OPERATIONS } from "./operations.ts";
import { ref, SCHEMAS } from "./schemas.ts";
import type { JsonSchema } from "./json_schema.ts";
import { structSchema } from "./struct_schema.ts";

/** The OpenAPI version written. */
export const OPENAPI_VERSION = "3.1.0";

const STATUS_TEXT: Record<number, string> = {
  400: "Invalid request: the body, a field or a flag breaks a rule (named in `error`)",
  403: "Not allowed for this caller (see the operation's access rule)",
  404: "Not found",
  409: "Conflicts with the cluster's state",
  413: "Request body larger than 1 MiB",
  429: "Too many at once: try again later",
  500: "Internal error (no details are given)",
  501: "Not offered by this member",
  503: "The member cannot serve this now (its status is named in `error`)",
  507: "The member's disk could not store it, or read it (full: `E_NO_SPACE`; read-only or " +
    "failing: `E_DISK`): `error` says what was done nonetheless",
};

const ACCESS_TEXT: Record<Access, string> = {
  anyone: "Anyone, on the control socket and over HTTPS.",
  token: "Anyone over HTTPS: the join token's secret in the body is the credential.",
  trusted: "The control socket, or HTTPS with a cluster member's client certificate (403 " +
    "otherwise).",
  local: "The control socket only (403 over HTTPS, whatever the certificate).",
};

const CONTROL_SOCKET = {
  url: "http+unix://{socket}",
  description: "The control socket: HTTP over the unix socket STATE_DIR/control.socket " +
    "(mode 0660; every caller on it is trusted), e.g. `curl --unix-socket PATH http://localhost/…`",
  variables: {
    socket: {
      default: "%2Fvar%2Flib%2Fcohort%2Fcontrol.socket",
      description: "The socket's path, URL-encoded",
    },
  },
};

/** `/core/1.0/cluster/:name` → `/core/1.0/cluster/{name}`. */
function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, "{$1}");
}

function errorResponse(status: number): JsonSchema {
  return {
    description: STATUS_TEXT[status] ?? `HTTP ${status}`,
    content: { "application/json": { schema: ref("ErrorEnvelope") } },
  };
}

function operationId(method: string, path: string): string {
  const words = path.split("/").filter((w) => w && w !== "core").map((w) =>
    w.replace(/^:/, "by-").replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string) => (c ?? "").toUpperCase())
  );
  return [method.toLowerCase(), ...words.map((w) => w[0].toUpperCase() + w.slice(1))].join("");
}

function operation(method: string, path: string, doc: OperationDoc): JsonSchema {
  const parameters: JsonSchema[] = [];
  for (const [name, description] of Object.entries(doc.params ?? {})) {
    parameters.push({ name, in: "path", required: true, description, schema: { type: "string" } });
  }
  for (const [name, description] of Object.entries(doc.flags ?? {})) {
    parameters.push({
      name,
      in: "query",
      required: false,
      description: `${description}: \`1\` or \`true\` set it, any other value leaves it unset`,
      schema: { type: "string" },
    });
  }
  for (const [name, description] of Object.entries(doc.query ?? {})) {
    parameters.push({
      name,
      in: "query",
      required: false,
      description,
      schema: { type: "string" },
    });
  }
  // Its own media type (a stream, a text format), and/or the usual JSON envelope.
  const content: JsonSchema = {};
  if (doc.content) content[doc.content.type] = { schema: doc.content.schema };
  if (doc.metadata || !doc.content) {
    content["application/json"] = {
      schema: {
        allOf: [ref("SyncEnvelope"), {
          type: "object",
          properties: { metadata: doc.metadata ?? {} },
        }],
      },
    };
  }
  const success = {
    description: doc.content?.description ?? "Success, in a sync envelope",
    content,
  };
  const statuses = new Set(doc.errors ?? []);
  if (doc.body) statuses.add(400);
  // Any request may carry a body, and the listener refuses one over its limit before routing.
  statuses.add(413);
  if (doc.access === "trusted" || doc.access === "local" || doc.access === "token") {
    statuses.add(403);
  }
  statuses.add(500);
  const responses: JsonSchema = { [String(doc.status ?? 200)]: success };
  for (const status of [...statuses].sort()) responses[String(status)] = errorResponse(status);
  const out: JsonSchema = {
    operationId: operationId(method, path),
    tags: [doc.tag],
    summary: doc.summary,
    description: [doc.description, `**Access:** ${ACCESS_TEXT[doc.access]}`]
      .filter(Boolean).join("\n\n"),
    "x-cohort-access": doc.access,
    // The control socket needs no credential (its file mode guards it), so it is the one server
    // of a local operation, and the alternative to a certificate for a trusted one.
    security: doc.access === "trusted" ? [{ memberCertificate: [] }] : [],
    ...(doc.access === "local" ? { servers: [CONTROL_SOCKET] } : {}),
    ...(parameters.length ? { parameters } : {}),
    responses,
  };
  if (doc.body) {
    out.requestBody = {
      required: !doc.bodyOptional,
      content: { "application/json": { schema: structSchema(doc.body) } },
    };
  }
  return out;
}

/** A route as the router registered it: method and itty path. */
export interface RouteKey {
  method: string;
  path: string;
}

/** The `METHOD /path` keys of an itty route table. */
export function routeKeys(routes: readonly RouteEntry[]): RouteKey[] {
  return routes
    .filter(([method, , , path]) => method !== "ALL" && path !== undefined)
    // itty keeps `/` as "" (it drops a trailing slash).
    .map(([method, , , path]) => ({ method, path: path || "/" }));
}

/**
 * The OpenAPI document of the routes in `routes` (the router's table) plus the endpoints served
 * outside it.
 *
 * @param version cohort's version, for `info.version`.
 * @throws {Error} when a route has no description, a description no route, or a body struct
 *   cannot be described.
 */
export function openApiDocument(routes: readonly RouteKey[], version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const seen = new Set<string>();
  const add = (method: string, path: string, doc: OperationDoc) => {
    (paths[openApiPath(path)] ??= {})[method.toLowerCase()] = operation(method, path, doc);
  };
  for (const { method, path } of routes) {
    const key = `${method} ${path}`;
    const doc = OPERATIONS[key];
    if (!doc) {
      throw new Error(`The route ${key} is not documented in routes/openapi/*_operations.ts`);
    }
    if (seen.has(key)) continue;
    seen.add(key);
    add(method, path, doc);
  }
  const stale = Object.keys(OPERATIONS).filter((k) => !seen.has(k));
  if (stale.length) throw new Error(`Documented routes that do not exist: ${stale.join(", ")}`);
  for (const [key, doc] of Object.entries(OTHER_OPERATIONS)) {
    const [method, path] = key.split(" ");
    add(method, path, doc);
  }
  const tags = [
    ["control", "Local administration: the control socket only"],
    ["public", "The cluster API (MicroCluster's /core/1.0)"],
    ["internal", "Member to member, and the SQL console"],
    ["operator", "Status, metrics and event streams for operators"],
  ].filter(([name]) =>
    Object.values(paths).some((p) => Object.values(p).some((o) => (o.tags as string[])[0] === name))
  ).map(([name, description]) => ({ name, description }));
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: "cohort",
      version,
      summary: "Leaderless clustering: members, join tokens, API extensions, schema versions",
      description: "Every JSON answer is an LXD-style envelope (MicroCluster's REST contract): " +
        "`SyncEnvelope` on success, `ErrorEnvelope` with the HTTP status in `error_code` on " +
        "failure. An unknown path answers 404 and a known path with another method 405 (with " +
        "an `Allow` header), both as error envelopes. Request bodies are strict: an unknown " +
        "field is a 400.",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    servers: [
      {
        url: "https://{address}",
        description: "A member's network listener (mutual TLS, the cluster certificate)",
        variables: { address: { default: "127.0.0.1:9001", description: "The member's address" } },
      },
      CONTROL_SOCKET,
    ],
    tags,
    paths,
    components: {
      schemas: SCHEMAS,
      securitySchemes: {
        memberCertificate: {
          type: "mutualTLS",
          description: "A client certificate of a cluster member (pinned by fingerprint)",
        },
      },
    },
  };
}
