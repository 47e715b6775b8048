/**
 * MicroCluster v3's wire types as Go's `encoding/json` sees them, transcribed from the struct
 * tags of canonical/microcluster (branch v3: `rest/types/*.go`, `internal/rest/types/*.go`, and
 * LXD's `shared/api.Response` envelope), with a checker that tells whether Go would decode a JSON
 * value into such a type, and which tagged fields the value lacks or adds.
 *
 * Go's decoding rules applied: object keys match field names case-insensitively; unknown keys
 * are ignored; `null` leaves any field at its zero value, except a type with its own
 * `UnmarshalJSON` that refuses it (`Extensions`, `X509Certificate`); an unsigned integer must be a
 * whole number from 0 to 2^64-1 written without an exponent or a fraction.
 */
import { X509Certificate } from "node:crypto";

/** A Go type as far as JSON decoding goes. */
export type GoType =
  | { kind: "string" | "bool" | "uint64" | "int64" | "any" }
  /** `time.Time`: an RFC 3339 string (or null). */
  | { kind: "time" }
  /** `types.AddrPort`: `""` or a netip address and port: `1.2.3.4:5`, `[::1]:5`. */
  | { kind: "addrport" }
  /** `types.X509Certificate`: a PEM certificate string; null fails its UnmarshalJSON. */
  | { kind: "x509" }
  /** `extensions.Extensions`: a list of strings, or one string alone; null fails. */
  | { kind: "extensions" }
  | { kind: "slice"; of: GoType }
  | { kind: "map"; of: GoType }
  | { kind: "struct"; name: string; fields: Record<string, GoType> };

const t = (
  kind:
    | "string"
    | "bool"
    | "uint64"
    | "int64"
    | "any"
    | "time"
    | "addrport"
    | "x509"
    | "extensions",
): GoType => ({ kind } as GoType);
export const str: GoType = t("string");
export const bool: GoType = t("bool");
export const uint64: GoType = t("uint64");
export const int64: GoType = t("int64");
export const any: GoType = t("any");
export const time: GoType = t("time");
export const addrport: GoType = t("addrport");
export const x509: GoType = t("x509");
export const extensions: GoType = t("extensions");
export const slice = (of: GoType): GoType => ({ kind: "slice", of });
export const map = (of: GoType): GoType => ({ kind: "map", of });
export const struct = (name: string, fields: Record<string, GoType>): GoType => ({
  kind: "struct",
  name,
  fields,
});

/** LXD `api.Response`: every answer's envelope. */
export const Response: GoType = struct("api.Response", {
  type: str,
  status: str,
  status_code: int64,
  operation: str,
  error_code: int64,
  error: str,
  metadata: any,
});

/** `rest/types.ClusterMemberLocal` (cluster.go). */
export const ClusterMemberLocal: GoType = struct("types.ClusterMemberLocal", {
  name: str,
  address: addrport,
  certificate: x509,
});

/** `rest/types.ClusterMember` (cluster.go): the local fields are embedded, so flattened in JSON. */
export const ClusterMember: GoType = struct("types.ClusterMember", {
  name: str,
  address: addrport,
  certificate: x509,
  role: str,
  schema_internal_version: uint64,
  schema_external_version: uint64,
  last_heartbeat: time,
  status: str,
  extensions,
  secret: str,
});

/** `internal/rest/types.Server` (server.go): `GET /core/1.0`. */
export const Server: GoType = struct("types.Server", {
  name: str,
  address: addrport,
  version: str,
  ready: bool,
  extensions,
});

/** `rest/types.ServerConfig` (server.go): an extension server in `GET|PUT daemon/servers`. */
export const ServerConfig: GoType = struct("types.ServerConfig", { address: addrport });

/** `internal/rest/types.Control` (control.go): `POST /core/control`. */
export const Control: GoType = struct("types.Control", {
  bootstrap: bool,
  config: map(str),
  join_token: str,
  address: addrport,
  name: str,
});

/** `internal/rest/types.TokenRequest` (tokens.go): `expire_after` is a time.Duration (ns). */
export const TokenRequest: GoType = struct("types.TokenRequest", {
  name: str,
  expire_after: int64,
});

/** `internal/rest/types.TokenRecord` (tokens.go): `GET /core/control/tokens`. */
export const TokenRecord: GoType = struct("types.TokenRecord", {
  name: str,
  token: str,
  expires_at: time,
});

/** `internal/rest/types.Token` (tokens.go): the base64 JSON inside a join token. */
export const Token: GoType = struct("types.Token", {
  secret: str,
  fingerprint: str,
  join_addresses: slice(addrport),
});

/** `rest/types.KeyPair` (certificate.go). */
export const KeyPair: GoType = struct("types.KeyPair", { cert: str, key: str, ca: str });

/** `internal/rest/types.TokenResponse` (tokens.go): a join's answer. */
export const TokenResponse: GoType = struct("types.TokenResponse", {
  cluster_cert: x509,
  cluster_key: str,
  cluster_members: slice(ClusterMemberLocal),
  // No json tag: Go's field name is the key.
  ClusterAdditionalCerts: map(KeyPair),
  trusted_member: ClusterMemberLocal,
});

/** `internal/rest/types.SQLDump` (sql.go). */
export const SQLDump: GoType = struct("types.SQLDump", { text: str });

/** `internal/rest/types.SQLQuery` (sql.go). */
export const SQLQuery: GoType = struct("types.SQLQuery", { query: str });

/** `internal/rest/types.SQLResult` (sql.go). */
export const SQLResult: GoType = struct("types.SQLResult", {
  type: str,
  columns: slice(str),
  rows: slice(slice(any)),
  rows_affected: int64,
});

/** `internal/rest/types.SQLBatch` (sql.go): `Results` has no json tag. */
export const SQLBatch: GoType = struct("types.SQLBatch", { Results: slice(SQLResult) });

/** What {@link check} finds. */
export interface Verdict {
  /** Why Go's decoder would fail, by path (`[0].address: ...`). Empty: it decodes. */
  errors: string[];
  /** Tagged fields the JSON lacks (Go leaves them zero), by path. */
  absent: string[];
  /** Keys the JSON has that no field takes (Go ignores them), by path. */
  extra: string[];
  /** Fields found only by Go's case-insensitive match (`Results` written `results`), by path. */
  cased: string[];
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function addrPortProblem(value: string): string | undefined {
  if (value === "") return undefined;
  const m = /^\[([0-9A-Fa-f:.]+(%[^\]]+)?)\]:(\d+)$/.exec(value) ??
    /^([^:[\]]+):(\d+)$/.exec(value);
  if (!m) return "not an IP:port (netip.ParseAddrPort)";
  const [host, port] = m.length === 4 ? [m[1], m[3]] : [m[1], m[2]];
  if (Number(port) > 65535 || !/^\d+$/.test(port)) return "port out of range";
  if (m.length === 3 && !IPV4.test(host)) return `"${host}" is not an IP address (netip)`;
  return undefined;
}

/** Whether `raw` (the JSON text of a number) decodes into a Go integer of `kind`. */
function integerProblem(raw: unknown, kind: "uint64" | "int64"): string | undefined {
  if (typeof raw !== "number") return `want a number, got ${JSON.stringify(raw)}`;
  const text = JSON.stringify(raw);
  if (!/^-?\d+$/.test(text)) return `${text} is not a whole number as Go's strconv reads it`;
  if (kind === "uint64" && raw < 0) return `${text} is negative`;
  return undefined;
}

/**
 * Checks how Go would decode `value` (parsed JSON) into `type`; `path` prefixes the reports.
 */
export function check(type: GoType, value: unknown, path = ""): Verdict {
  const verdict: Verdict = { errors: [], absent: [], extra: [], cased: [] };
  const at = path || "(root)";
  const fail = (why: string) => verdict.errors.push(`${at}: ${why}`);
  const merge = (v: Verdict) => {
    verdict.errors.push(...v.errors);
    verdict.absent.push(...v.absent);
    verdict.extra.push(...v.extra);
    verdict.cased.push(...v.cased);
  };
  if (value === null) {
    if (type.kind === "extensions") fail("null: Extensions.UnmarshalJSON refuses it");
    if (type.kind === "x509") fail("null: X509Certificate.UnmarshalJSON refuses it");
    return verdict;
  }
  switch (type.kind) {
    case "any":
      break;
    case "string":
      if (typeof value !== "string") fail(`want a string, got ${JSON.stringify(value)}`);
      break;
    case "bool":
      if (typeof value !== "boolean") fail(`want a boolean, got ${JSON.stringify(value)}`);
      break;
    case "uint64":
    case "int64": {
      const problem = integerProblem(value, type.kind);
      if (problem) fail(problem);
      break;
    }
    case "time":
      if (typeof value !== "string" || !RFC3339.test(value)) {
        fail(`want an RFC 3339 time, got ${JSON.stringify(value)}`);
      }
      break;
    case "addrport": {
      if (typeof value !== "string") fail(`want an address string, got ${JSON.stringify(value)}`);
      else {
        const problem = addrPortProblem(value);
        if (problem) fail(`${JSON.stringify(value)}: ${problem}`);
      }
      break;
    }
    case "x509":
      if (typeof value !== "string") fail(`want a PEM string, got ${JSON.stringify(value)}`);
      else {
        try {
          new X509Certificate(value);
        } catch {
          fail("not a PEM certificate Go's x509.ParseCertificate reads");
        }
      }
      break;
    case "extensions":
      if (typeof value === "string") break;
      if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
        fail(`want a list of strings or one string, got ${JSON.stringify(value)}`);
      }
      break;
    case "slice":
      if (!Array.isArray(value)) fail(`want an array, got ${JSON.stringify(value)}`);
      else value.forEach((v, i) => merge(check(type.of, v, `${path}[${i}]`)));
      break;
    case "map":
      if (typeof value !== "object" || Array.isArray(value)) {
        fail(`want an object, got ${JSON.stringify(value)}`);
      } else {
        for (const [k, v] of Object.entries(value)) merge(check(type.of, v, `${path}.${k}`));
      }
      break;
    case "struct": {
      if (typeof value !== "object" || Array.isArray(value)) {
        fail(`want an object (${type.name}), got ${JSON.stringify(value)}`);
        break;
      }
      const keys = Object.keys(value as object);
      for (const [field, fieldType] of Object.entries(type.fields)) {
        // Go prefers the exact key and falls back to a case-insensitive match.
        const key = keys.find((k) => k === field) ??
          keys.find((k) => k.toLowerCase() === field.toLowerCase());
        if (key === undefined) verdict.absent.push(`${path}.${field}`);
        else if (key !== field) verdict.cased.push(`${path}.${field}`);
        if (key !== undefined) {
          merge(check(fieldType, (value as Record<string, unknown>)[key], `${path}.${field}`));
        }
      }
      const taken = Object.keys(type.fields).map((f) => f.toLowerCase());
      for (const key of keys) {
        if (!taken.includes(key.toLowerCase())) verdict.extra.push(`${path}.${key}`);
      }
      break;
    }
  }
  return verdict;
}

/**
 * The JSON Go's `json.Marshal` writes for a zero-valued `type` with `values` set: every tagged
 * field present, zero values for the others (`""`, `0`, `false`, `null` for nil maps and slices,
 * `"0001-01-01T00:00:00Z"` for a zero time).
 */
export function goEncode(type: GoType, values: Record<string, unknown>): Record<string, unknown> {
  if (type.kind !== "struct") throw new Error("goEncode takes a struct type");
  const out: Record<string, unknown> = {};
  for (const [field, fieldType] of Object.entries(type.fields)) {
    out[field] = field in values ? values[field] : zero(fieldType);
  }
  return out;
}

function zero(type: GoType): unknown {
  switch (type.kind) {
    case "string":
    case "addrport":
    case "x509":
      return "";
    case "bool":
      return false;
    case "uint64":
    case "int64":
      return 0;
    case "time":
      return "0001-01-01T00:00:00Z";
    case "struct":
      return goEncode(type, {});
    default:
      // nil slices, maps, Extensions (a nil list marshals as null) and interfaces
      return null;
  }
}
