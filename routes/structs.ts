/**
 * superstruct definitions of every request body the API accepts. Objects are strict: an
 * unknown field is a 400, so a typo never silently does nothing.
 *
 * @module
 */
import {
  boolean,
  defaulted,
  type Infer,
  object,
  optional,
  record,
  refine,
  size,
  string,
} from "superstruct";
import { addressProblem, memberNameProblem } from "../lib/cluster/address.ts";

/** A member name: a DNS name (see `memberNameProblem`). */
export const MemberName = refine(string(), "member name", (v) => memberNameProblem(v) ?? true);

/** A `host:port` address. */
export const Address = refine(string(), "address", (v) => addressProblem(v) ?? true);

/** `POST /core/control`: bootstrap or join. */
export const ControlBody = object({
  bootstrap: defaulted(boolean(), false),
  name: MemberName,
  address: Address,
  join_token: optional(size(string(), 1, 65536)),
  config: optional(record(string(), string())),
});
/** Validated `POST /core/control` body. */
export type ControlBody = Infer<typeof ControlBody>;

/** `POST /core/internal/sql`: one or more `;`-separated statements. */
export const SqlBody = object({
  query: size(string(), 1, 1_048_576),
});
/** Validated `POST /core/internal/sql` body. */
export type SqlBody = Infer<typeof SqlBody>;
