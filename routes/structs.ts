/**
 * superstruct definitions of every request body the API accepts. Objects are strict: an
 * unknown field is a 400, so a typo never silently does nothing.
 *
 * @module
 */
import {
  array,
  boolean,
  coerce,
  defaulted,
  type Infer,
  integer,
  nullable,
  number,
  object,
  optional,
  record,
  refine,
  size,
  string,
  type Struct,
  unknown,
} from "superstruct";
import { addressProblem, canonicalAddress, memberNameProblem } from "../lib/cluster/address.ts";
import { SQL_TIMEOUT_MS } from "../lib/store/sql_console.ts";
import { appVersionProblem } from "../lib/cluster/app_version.ts";
import { isClaimRound, isSha256Hex } from "../lib/cluster/token.ts";

/**
 * `record(Key, Value)` that names its value struct (`valueStruct`), so the OpenAPI document can
 * describe values that are objects (superstruct's record keeps no reference to it).
 */
function recordOf<K extends string, V, VS>(
  key: Struct<K, null>,
  value: Struct<V, VS>,
): Struct<Record<K, V>, null> & { valueStruct: Struct<V, VS> } {
  return Object.assign(record(key, value), { valueStruct: value });
}

/** A member name: a DNS name (see `memberNameProblem`). */
export const MemberName = refine(string(), "member name", (v) => memberNameProblem(v) ?? true);

/**
 * A `host:port` address, taken in its one spelling (`canonicalAddress`): a member stored and
 * compared under another spelling of an address would be a second member at that address.
 */
export const Address = coerce(
  refine(string(), "address", (v) => addressProblem(v) ?? true),
  string(),
  (v) => canonicalAddress(v) ?? v,
);

/** An app version string (see `appVersionProblem`). */
export const AppVersion = refine(string(), "app version", (v) => appVersionProblem(v) ?? true);

/**
 * `POST /core/control`: bootstrap or join. MicroCluster's Go client writes every field of its
 * `Control` type, unset ones as Go's zero values: `"join_token": ""` for a bootstrap and
 * `"config": null` for a nil map. Both mean "not given".
 */
export const ControlBody = object({
  bootstrap: defaulted(boolean(), false),
  name: MemberName,
  address: Address,
  join_token: optional(nullable(size(string(), 0, 65536))),
  config: optional(nullable(record(string(), string()))),
});
/** Validated `POST /core/control` body. */
export type ControlBody = Infer<typeof ControlBody>;

/** The longest a join token may be valid: 100 years, in nanoseconds. */
export const MAX_TOKEN_EXPIRY_NS = 100 * 365.25 * 86_400 * 1e9;

/** The highest schema version (a count of migrations) a join request may claim. */
export const MAX_SCHEMA_VERSION = 65_535;

/** `POST /core/control/tokens`: `expire_after` in nanoseconds as MicroCluster (0 = never). */
export const TokenBody = object({
  name: MemberName,
  expire_after: defaulted(size(integer(), 0, MAX_TOKEN_EXPIRY_NS), 0),
});
/** Validated `POST /core/control/tokens` body. */
export type TokenBody = Infer<typeof TokenBody>;

/** `PUT /core/control/app-version`: this member's new app version. */
export const AppVersionBody = object({ app_version: AppVersion });
/** Validated `PUT /core/control/app-version` body. */
export type AppVersionBody = Infer<typeof AppVersionBody>;

/** `POST /core/internal/cluster`: a join request (MicroCluster's ClusterMember). */
export const JoinBody = object({
  name: MemberName,
  address: Address,
  certificate: size(string(), 1, 16384),
  schema_internal_version: size(integer(), 0, MAX_SCHEMA_VERSION),
  schema_external_version: size(integer(), 0, MAX_SCHEMA_VERSION),
  // MicroCluster encodes a one-entry list as a bare string: accept it as that list.
  extensions: coerce(array(size(string(), 1, 256)), string(), (one) => [one]),
  secret: size(string(), 1, 256),
  app_version: optional(AppVersion),
  // MicroCluster sends these empty in join requests; accepted and ignored.
  role: optional(string()),
  status: optional(string()),
  last_heartbeat: optional(string()),
});
/** Validated `POST /core/internal/cluster` body. */
export type JoinBody = Infer<typeof JoinBody>;

/** Lowercase hex SHA-256. */
const Sha256Hex = refine(
  string(),
  "SHA-256 hex digest",
  (v) => isSha256Hex(v) || "must be 64 lowercase hex digits",
);

/**
 * `POST /core/internal/tokens/claim` and `…/release`: a join token (by its secret's hash) claimed
 * for one joining machine (its name, address and certificate fingerprint).
 */
export const TokenClaimBody = object({
  hash: Sha256Hex,
  name: MemberName,
  address: Address,
  fingerprint: Sha256Hex,
  /** The admitting member's claim round (absent from members before rounds were named). */
  round: optional(
    refine(
      string(),
      "claim round",
      (v) => isClaimRound(v) || "must be 32 lowercase hex digits",
    ),
  ),
});

/** `PUT /core/internal/cluster/{name}`: the member is asked to leave. */
export const ResetBody = object({ force: defaulted(boolean(), false) });

/** Seconds a SQL console run may take: 1 ms to the console's own limit (`SQL_TIMEOUT_MS`). */
export const SqlTimeout = size(number(), 0.001, SQL_TIMEOUT_MS / 1000);

/**
 * `POST /core/internal/sql`: one or more `;`-separated statements, and the seconds they may take
 * (the CLI's `--timeout`; default and most: the console's limit, 60).
 */
export const SqlBody = object({
  query: size(string(), 1, 1_048_576),
  timeout: optional(SqlTimeout),
});
/** Validated `POST /core/internal/sql` body. */
export type SqlBody = Infer<typeof SqlBody>;

/** `PUT /core/1.0/records/:key`: the value to store (any JSON but `null`; see `RECORDS_LIMITS`). */
export const RecordBody = object({ value: unknown() });

/**
 * `PUT /core/1.0/daemon/servers`: new addresses of the app's extension servers, by server name
 * (MicroCluster's `map[string]ServerConfig`).
 */
export const ServersBody = recordOf(string(), object({ address: Address }));
/** Validated `PUT /core/1.0/daemon/servers` body. */
export type ServersBody = Infer<typeof ServersBody>;

/**
 * `PUT /core/1.0/cluster/certificates/{name}` body: MicroCluster's `KeyPair`. `ca` is what a Go
 * client always sends (`""` when it has none); cohort's servers verify clients against no CA.
 */
export const KeyPairBody = object({
  cert: size(string(), 1, 64 * 1024),
  key: size(string(), 1, 64 * 1024),
  ca: optional(string()),
});
/** Validated `PUT /core/1.0/cluster/certificates/{name}` body. */
export type KeyPairBody = Infer<typeof KeyPairBody>;
