/**
 * Describes a superstruct struct as a JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1),
 * so the OpenAPI document follows the structs the router validates with instead of a copy of
 * them. superstruct keeps a struct's shape (`type`, `schema`) but not its refinements' limits:
 * those are read back from the failures the struct reports for probe values (`size` and `min`
 * state their bounds), and named refinements (`member name`, …) are looked up in
 * {@link REFINEMENTS}. A struct this module cannot describe exactly is an error, never a guess.
 *
 * @module
 */
import type { Struct } from "superstruct";
import type { JsonSchema } from "./json_schema.ts";
import { REFINEMENTS } from "./refinements.ts";

// deno-lint-ignore no-explicit-any
type AnyStruct = Struct<any, any>;

/**
 * Longest string probed for an upper bound: twice the largest request body cohort reads (1 MiB),
 * so no limit that matters goes unseen.
 */
const PROBE_STRING = 1 << 21;
/** Longest array probed: more elements than fit in a 1 MiB body (each takes 4 bytes or more). */
const PROBE_ITEMS = 1 << 18;

/**
 * The JSON Schema of `struct` as a request body part: what `create(value, struct)` accepts.
 *
 * @throws {Error} for a struct type or refinement it cannot describe exactly.
 */
export function structSchema(struct: AnyStruct): JsonSchema {
  const schema = baseSchema(struct);
  if (struct.validate(null)[0] === undefined && struct.type !== "literal") {
    return { anyOf: [schema, { type: "null" }] };
  }
  return schema;
}

function baseSchema(struct: AnyStruct): JsonSchema {
  switch (struct.type) {
    case "string":
      return refined(struct, { type: "string" }, ["", "a".repeat(PROBE_STRING)]);
    case "integer":
    case "number":
      return refined(struct, { type: struct.type }, [
        Number.MIN_SAFE_INTEGER,
        Number.MAX_SAFE_INTEGER,
      ]);
    case "boolean":
      return { type: "boolean" };
    case "literal":
      return { const: struct.schema };
    case "enums":
      return { enum: Object.values(struct.schema as Record<string, unknown>) };
    case "object":
    case "type":
      return objectSchema(struct);
    case "record":
      return recordSchema(struct);
    case "array":
      return arraySchema(struct);
    case "unknown":
      return { description: "Any JSON value" };
    default:
      throw new Error(`Cannot describe a superstruct "${struct.type}" struct in JSON Schema`);
  }
}

function objectSchema(struct: AnyStruct): JsonSchema {
  const fields = (struct.schema ?? {}) as Record<string, AnyStruct>;
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [name, field] of Object.entries(fields)) {
    const property = structSchema(field);
    const [missing, filled] = field.validate(undefined, { coerce: true });
    if (missing) required.push(name);
    else if (filled !== undefined) property.default = filled;
    properties[name] = property;
  }
  return {
    type: "object",
    properties,
    ...(required.length ? { required } : {}),
    // `object` refuses unknown fields (a 400); `type` ignores them.
    additionalProperties: struct.type === "type",
  };
}

/**
 * A record's values: described by their struct when the record names it (`valueStruct`, see
 * `recordOf` in `routes/structs.ts`), else probed with one value of each JSON type.
 */
function recordSchema(struct: AnyStruct): JsonSchema {
  const value = (struct as { valueStruct?: AnyStruct }).valueStruct;
  if (value) return { type: "object", additionalProperties: structSchema(value) };
  const samples: [string, unknown][] = [
    ["string", "a"],
    ["number", 1.5],
    ["integer", 1],
    ["boolean", true],
    ["null", null],
    ["array", []],
    ["object", {}],
  ];
  const accepted = samples.filter(([, v]) => struct.validate({ k: v })[0] === undefined);
  let types = accepted.map(([t]) => t);
  if (types.includes("number")) types = types.filter((t) => t !== "integer");
  if (types.length === 0) throw new Error("Cannot describe a record that accepts no value");
  return {
    type: "object",
    additionalProperties: types.length === samples.length - 1 ? true : {
      type: types.length === 1 ? types[0] : types,
    },
  };
}

/** `array(Element)`, possibly with a size, possibly coercing a lone element into a list. */
function arraySchema(struct: AnyStruct): JsonSchema {
  const element = struct.schema as AnyStruct | null;
  if (!element) throw new Error("Cannot describe an array without an element struct");
  const items = structSchema(element);
  const sample = exampleOf(items);
  const schema = refined(struct, { type: "array", items }, [[], Array(PROBE_ITEMS).fill(sample)]);
  // A list may also be written as its only element (`coerce(array(S), S, (x) => [x])`).
  const [refused] = struct.validate(sample, { coerce: true });
  return refused ? schema : { anyOf: [schema, items] };
}

/**
 * Adds the keywords of the refinements `struct` applies, read from the failures its refiner
 * reports for `probes` (values of the right type at both extremes). The refiner is called alone:
 * the elements of a long probe list are not validated one by one.
 */
function refined(struct: AnyStruct, schema: JsonSchema, probes: unknown[]): JsonSchema {
  const out: JsonSchema = { ...schema };
  for (const probe of probes) {
    const result = struct.refiner(probe, { branch: [probe], path: [] });
    if (typeof result !== "object" || result === null) continue;
    for (const failure of result) {
      const name = failure.refinement;
      if (name === undefined) {
        throw new Error(`Cannot describe a ${struct.type} that refuses ${describe(probe)}`);
      }
      Object.assign(out, limits(name, failure.message, struct.type));
    }
  }
  return out;
}

/** JSON Schema keywords for one refinement failure, read from superstruct's message. */
function limits(name: string, message: string, type: string): JsonSchema {
  const [min, max] = type === "array"
    ? ["minItems", "maxItems"]
    : type === "string"
    ? ["minLength", "maxLength"]
    : ["minimum", "maximum"];
  const number = String.raw`(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)`;
  let m: RegExpMatchArray | null;
  switch (name) {
    case "size":
      if ((m = message.match(new RegExp(`between \`${number}\` and \`${number}\``)))) {
        return { [min]: Number(m[1]), [max]: Number(m[2]) };
      }
      if ((m = message.match(new RegExp(`of \`${number}\``)))) {
        return { [min]: Number(m[1]), [max]: Number(m[1]) };
      }
      break;
    case "min":
      if ((m = message.match(new RegExp(`greater than (or equal to )?${number}`)))) {
        return m[1] ? { minimum: Number(m[2]) } : { exclusiveMinimum: Number(m[2]) };
      }
      break;
    case "max":
      if ((m = message.match(new RegExp(`less than (or equal to )?${number}`)))) {
        return m[1] ? { maximum: Number(m[2]) } : { exclusiveMaximum: Number(m[2]) };
      }
      break;
    case "nonempty":
      return { [min]: 1 };
    default: {
      const known = REFINEMENTS[name];
      if (known) return { ...known };
      throw new Error(`Cannot describe the refinement "${name}": add it to REFINEMENTS`);
    }
  }
  throw new Error(`Cannot read the bounds of the refinement "${name}" from "${message}"`);
}

/** A value the schema accepts, for probing containers. */
function exampleOf(schema: JsonSchema): unknown {
  if (schema.examples) return (schema.examples as unknown[])[0];
  switch (schema.type) {
    case "string":
      return "a".repeat(Number(schema.minLength ?? 1));
    case "integer":
    case "number":
      return Number(schema.minimum ?? 0);
    case "boolean":
      return true;
  }
  throw new Error(`Cannot make a sample value for ${JSON.stringify(schema)}`);
}

function describe(value: unknown): string {
  if (typeof value === "string") return `a string of length ${value.length}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return String(value);
}
