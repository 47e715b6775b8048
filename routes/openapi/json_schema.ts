/**
 * The JSON Schema type the OpenAPI modules build.
 *
 * @module
 */

/** A JSON Schema (draft 2020-12, OpenAPI 3.1's dialect) or another OpenAPI object. */
export type JsonSchema = { [keyword: string]: unknown };
