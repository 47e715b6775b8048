/**
 * Reads and validates a JSON request body with superstruct.
 *
 * @module
 */
import { create, type Struct } from "superstruct";
import { InvalidInputError } from "../lib/errors.ts";

/**
 * Parses the request body as JSON and validates it against `struct` (applying defaults).
 *
 * @throws {InvalidInputError} when the body is missing or not JSON.
 * @throws {StructError} when a field breaks a rule (the router maps it to a 400).
 */
export async function readBody<T, S>(request: Request, struct: Struct<T, S>): Promise<T> {
  const text = await request.text();
  if (text.trim() === "") throw new InvalidInputError("Invalid request body: it is empty");
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
 */
export function param(request: Request, name: string): string {
  const params = (request as unknown as { params?: Record<string, string> }).params ?? {};
  return decodeURIComponent(params[name] ?? "");
}

/** Whether a query flag such as `?force=1` is set (`1` or `true`). */
export function flag(request: Request, name: string): boolean {
  const value = new URL(request.url).searchParams.get(name);
  return value === "1" || value === "true";
}
