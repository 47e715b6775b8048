/**
 * Validating values against schemas of cohort's OpenAPI document with Ajv (JSON Schema 2020-12,
 * OpenAPI 3.1's dialect): request bodies, answers by status.
 */
// deno-lint-ignore-file no-explicit-any
import { Ajv2020 } from "ajv/dist/2020.js";

/** Validators over one document. */
export interface DocumentValidator {
  /** Whether `body` is a valid request body of `METHOD path` (OpenAPI path syntax). */
  body(method: string, path: string, body: unknown): boolean;
  /** Ajv's errors of the last call, as text. */
  errors(): string;
  /**
   * Whether `answer` is valid for `METHOD path` answering `status` with media type `type`
   * (default: the first documented).
   */
  answer(method: string, path: string, status: number, answer: unknown, type?: string): boolean;
  /** Whether `value` is valid against the component schema `name`. */
  schema(name: string, value: unknown): boolean;
}

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");

/** Compiles validators for the schemas of `document`. */
export function documentValidator(document: any): DocumentValidator {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema(document, "openapi");
  let last: any;
  const check = (ref: string, value: unknown) => {
    const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
    const ok = validate(value) as boolean;
    last = validate.errors;
    return ok;
  };
  return {
    body(method, path, body) {
      const op = document.paths[path]?.[method.toLowerCase()];
      if (!op?.requestBody) throw new Error(`${method} ${path} has no documented body`);
      return check(
        `openapi#/${
          pointer("paths", path, method.toLowerCase(), "requestBody", "content", "application/json")
        }/schema`,
        body,
      );
    },
    answer(method, path, status, answer, mediaType) {
      const op = document.paths[path]?.[method.toLowerCase()];
      if (!op?.responses?.[String(status)]) {
        last = [{ message: `status ${status} is not documented for ${method} ${path}` }];
        return false;
      }
      const type = mediaType ?? Object.keys(op.responses[String(status)].content)[0];
      return check(
        `openapi#/${
          pointer("paths", path, method.toLowerCase(), "responses", String(status), "content", type)
        }/schema`,
        answer,
      );
    },
    schema(name, value) {
      if (!document.components.schemas[name]) throw new Error(`no component schema ${name}`);
      return check(`openapi#/components/schemas/${name}`, value);
    },
    errors: () => ajv.errorsText(last),
  };
}
