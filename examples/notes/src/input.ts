/**
 * Request bodies of the notes app: small JSON objects, checked field by field so that every bad
 * input is a 400 naming the field and the rule it breaks (cohort's `InvalidInputError`).
 *
 * @module
 */
import { ConflictError, InvalidInputError, TooLargeError } from "cohort";
import { TAGS_EXTENSION } from "./releases.ts";

/** The largest request body the app reads, in bytes. */
export const MAX_BODY_BYTES = 16 * 1024;
/** The longest note or board text, in characters. */
export const MAX_TEXT = 1000;
/** At most this many tags per note or board entry. */
export const MAX_TAGS = 8;
const TAG = /^[a-z0-9][a-z0-9-]{0,31}$/;

/**
 * Reads a JSON object body with only `allowed` fields.
 *
 * @throws {TooLargeError} for a body over {@link MAX_BODY_BYTES}
 * @throws {InvalidInputError} for malformed JSON, a body that is not an object, or an unknown
 *   field (named)
 */
export async function readObject(
  request: Request,
  allowed: readonly string[],
): Promise<Record<string, unknown>> {
  const text = await request.text();
  if (new TextEncoder().encode(text).length > MAX_BODY_BYTES) {
    throw new TooLargeError(`Request body: at most ${MAX_BODY_BYTES} bytes`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new InvalidInputError("Request body: malformed JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InvalidInputError("Request body: expected a JSON object");
  }
  for (const field of Object.keys(body)) {
    if (!allowed.includes(field)) {
      throw new InvalidInputError(`${field}: unknown field`, { field });
    }
  }
  return body as Record<string, unknown>;
}

/** Checks a required text field: a non-empty string of at most {@link MAX_TEXT} characters. */
export function textField(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== "string" || value.trim() === "" || value.length > MAX_TEXT) {
    throw new InvalidInputError(
      `${field}: expected a non-empty string of at most ${MAX_TEXT} characters`,
      { field },
    );
  }
  return value;
}

/**
 * Checks the optional `tags` field (release 2): at most {@link MAX_TAGS} distinct tags of
 * lowercase letters, digits and `-`. Tags are refused until every member of the cluster runs
 * release 2 (`tagsOn` false): a member of release 1 could neither store nor show them.
 *
 * @throws {InvalidInputError} for a malformed list
 * @throws {ConflictError} when tags are given while the cluster lacks `notes_tags`
 */
export function tagsField(body: Record<string, unknown>, tagsOn: boolean): string[] {
  const value = body.tags;
  if (value === undefined) return [];
  if (
    !Array.isArray(value) || value.length > MAX_TAGS ||
    !value.every((t) => typeof t === "string" && TAG.test(t)) ||
    new Set(value).size !== value.length
  ) {
    throw new InvalidInputError(
      `tags: expected at most ${MAX_TAGS} distinct tags of a-z, 0-9 and - (1 to 32 characters)`,
      { field: "tags" },
    );
  }
  if (!tagsOn && value.length > 0) {
    throw new ConflictError(
      `tags: not until every member runs notes 2 (the cluster lacks the ${TAGS_EXTENSION} API extension)`,
    );
  }
  return value as string[];
}
