/**
 * The type of a JSON value, as the replicated records carry it and a join hands over its view:
 * no `undefined`, no functions, no class instances.
 *
 * @module
 */

/** A JSON value, as carried by a replicated record (`cluster/replicated_record.ts`). */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };
