/**
 * Reads and validates request input: JSON bodies with superstruct, path parameters and query
 * flags. Handlers call {@link readBody} only once the caller may send a body (trust and state
 * checked), with the size their endpoint needs: until then nothing of it is read.
 *
 * @module
 */
import { create, type Struct } from "superstruct";
import { InvalidInputError } from "../lib/errors.ts";
import { readRequestText } from "../lib/net/node_request.ts";

/** The deepest nesting of arrays and objects a body may have: no endpoint needs more than 3. */
export const MAX_BODY_DEPTH = 32;

/**
 * Body size limits per endpoint, in bytes. Most bodies are a few fields: 4 KiB. More for:
 * `control` (a join token of up to 64 KiB, the longest MicroCluster's own clients send, plus
 * the member's configuration), `join` (a joiner's certificate, up to 16 KiB, and its extension
 * list), `pair` (a certificate chain and its key, up to 64 KiB each, JSON-escaped), `sql` (a script of up to 1 MiB of text, up to twice that once JSON-escaped).
 */
export const BODY_LIMITS = Object.freeze({
  small: 4 * 1024,
  control: 128 * 1024,
  join: 128 * 1024,
  pair: 192 * 1024,
  sql: 2 * 1024 * 1024,
});

/**
 * Whether JSON `text` nests arrays and objects deeper than `max` (strings skipped). Checked
 * before parsing: validating (and describing) a deeply nested value recurses once per level.
 */
function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // a string: skip to its closing quote
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Reads the request body (at most `maxBytes`), parses it as JSON and validates it against
 * `struct` (applying defaults).
 *
 * @throws {TooLargeError} (413), {@link TooManyRequestsError} (429), {@link UnavailableError}
 *   (503) or {@link RequestTimeoutError} (408) from reading it (see `readRequestBody`)
 * @throws {InvalidInputError} when the body is missing, not JSON, or nested too deep
 * @throws {StructError} when a field breaks a rule (the router maps it to a 400)
 */
export async function readBody<T, S>(
  request: Request,
  struct: Struct<T, S>,
  maxBytes: number,
): Promise<T> {
  const text = await readRequestText(request, maxBytes);
  if (text.trim() === "") throw new InvalidInputError("Invalid request body: it is empty");
  if (nestedDeeperThan(text, MAX_BODY_DEPTH)) {
    throw new InvalidInputError(
      `Invalid request body: arrays and objects nested deeper than ${MAX_BODY_DEPTH} levels`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidInputError("Invalid request body: it is not valid JSON");
  }
  return create(value, struct);
}

/**
 * A path parameter of a matched route, URL-decoded (itty-router leaves `%xx` escapes as they
 * came).
 *
 * @throws {InvalidInputError} when its `%xx` escapes are not UTF-8
 */
export function param(request: Request, name: string): string {
  const params = (request as unknown as { params?: Record<string, string> }).params ?? {};
  try {
    return decodeURIComponent(params[name] ?? "");
  } catch {
    throw new InvalidInputError(`Invalid path: the ${name} is not valid percent-encoded UTF-8`, {
      field: name,
    });
  }
}

/** Whether a query flag such as `?force=1` is set (`1` or `true`). */
export function flag(request: Request, name: string): boolean {
  const value = new URL(request.url).searchParams.get(name);
  return value === "1" || value === "true";
}
