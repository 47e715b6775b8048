/**
 * The API extension registry: the ordered, append-only list of named capabilities a member
 * runs, and the comparison every compatibility decision is built on.
 *
 * Rules (MicroCluster's, exactly): internal names match `^internal:[a-z0-9]+(_[a-z0-9]+)*$`,
 * app names match `^[a-z0-9]+(_[a-z0-9]+)*$`; no empty names, no duplicates, an app may not
 * claim an `internal:` name; the unified list is the internal list followed by the app's.
 *
 * Each of the two lists is append-only on its own, so two unified lists are compared part by
 * part ({@link compareExtensions}): a release that appends an internal name to a list followed
 * by app names is ahead, not diverged. (Compared as one prefix, `[internal:a, app_x]` and
 * `[internal:a, internal:b, app_x]` diverge at position 1: the upgraded member's gate refused to
 * start.) Releases before this comparison compare unified lists as one prefix, so a new internal
 * extension may only come in a release after one that compares this way.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { InvalidInputError } from "../errors.ts";

/** Pattern an internal (cohort-owned) extension name must match. */
export const INTERNAL_NAME: RegExp = /^internal:[a-z0-9]+(_[a-z0-9]+)*$/;
/** Pattern an app extension name must match. */
export const APP_NAME: RegExp = /^[a-z0-9]+(_[a-z0-9]+)*$/;
const INTERNAL_PREFIX = "internal:";

/**
 * cohort's own extensions, oldest first. Append only: a member's position in this list is its
 * internal API level.
 */
export const INTERNAL_EXTENSIONS: readonly string[] = Object.freeze([
  "internal:runtime_extension_v1",
]);

/** Which namespace a name belongs to. */
export type ExtensionKind = "internal" | "app";

/**
 * Checks one extension name against the rules of its kind.
 *
 * @throws {InvalidInputError} naming the entry and the rule it breaks.
 */
export function validateExtensionName(name: unknown, kind: ExtensionKind, field?: string): string {
  const where = field ?? "extension";
  if (typeof name !== "string") {
    throw new InvalidInputError(`Invalid ${where}: expected a string, got ${typeof name}`, {
      field,
    });
  }
  if (name === "") {
    throw new InvalidInputError(`Invalid ${where}: extension name must not be empty`, { field });
  }
  if (kind === "app") {
    if (name.startsWith(INTERNAL_PREFIX)) {
      throw new InvalidInputError(
        `Invalid ${where} "${name}": app extensions may not use the reserved "internal:" prefix`,
        { field },
      );
    }
    if (!APP_NAME.test(name)) {
      throw new InvalidInputError(
        `Invalid ${where} "${name}": must match ${APP_NAME.source} (lowercase letters and digits in groups joined by single underscores)`,
        { field },
      );
    }
  } else if (!INTERNAL_NAME.test(name)) {
    throw new InvalidInputError(
      `Invalid ${where} "${name}": internal extensions must match ${INTERNAL_NAME.source}`,
      { field },
    );
  }
  return name;
}

/** The outcome of comparing our list with another member's. */
export type Verdict = "equal" | "ahead" | "behind" | "diverged";

/**
 * A structured comparison of two extension lists, from our side, made part by part: the internal
 * names (the list's leading `internal:` ones) and the app's names (the rest).
 *
 * - `equal`: same names in the same order.
 * - `ahead`: each of their parts is a prefix of ours, one a strict one (they must upgrade).
 * - `behind`: each of our parts is a prefix of theirs, one a strict one (we must upgrade).
 * - `diverged`: anything else (a part where neither is a prefix of the other, or one part ahead
 *   and the other behind).
 */
export interface ExtensionComparison {
  verdict: Verdict;
  /** Names they have that we lack, in their order. */
  missing: string[];
  /** Names we have that they lack, in our order. */
  extra: string[];
  /**
   * Index of the first position where the lists differ (or where the shorter one ends), in
   * the internal part if it differs, else in the app part (then the same index in both lists);
   * `-1` when equal. Lets a message explain a pure reordering, where `missing` and `extra` are
   * both empty.
   */
  firstDifference: number;
}

/**
 * How many of `list`'s leading names are internal ones: a unified list is its internal part
 * (`list.slice(0, n)`) followed by its app part (`list.slice(n)`).
 */
export function internalCount(list: readonly string[]): number {
  let n = 0;
  while (n < list.length && list[n].startsWith(INTERNAL_PREFIX)) n++;
  return n;
}

/**
 * Compares `ours[oFrom, oTo)` with `theirs[tFrom, tTo)` as prefixes; `at` is the offset (from
 * each start) of the first difference, or -1 when equal.
 */
function comparePart(
  ours: readonly string[],
  oFrom: number,
  oTo: number,
  theirs: readonly string[],
  tFrom: number,
  tTo: number,
): { verdict: Verdict; at: number } {
  const o = oTo - oFrom;
  const t = tTo - tFrom;
  let i = 0;
  while (i < o && i < t && ours[oFrom + i] === theirs[tFrom + i]) i++;
  if (i === o && i === t) return { verdict: "equal", at: -1 };
  if (i === t) return { verdict: "ahead", at: i };
  if (i === o) return { verdict: "behind", at: i };
  return { verdict: "diverged", at: i };
}

/**
 * Compares our list with theirs, part by part (see {@link ExtensionComparison}). Pure and
 * O(n + m).
 *
 * @example
 * compareExtensions(["a", "b"], ["a"]) // { verdict: "ahead", missing: [], extra: ["b"], firstDifference: 1 }
 * compareExtensions(["internal:a", "internal:b", "x"], ["internal:a", "x"]) // ahead, extra ["internal:b"]
 */
export function compareExtensions(
  ours: readonly string[],
  theirs: readonly string[],
): ExtensionComparison {
  const oi = internalCount(ours);
  const ti = internalCount(theirs);
  const internal = comparePart(ours, 0, oi, theirs, 0, ti);
  const app = comparePart(ours, oi, ours.length, theirs, ti, theirs.length);
  if (internal.verdict === "equal" && app.verdict === "equal") {
    return { verdict: "equal", missing: [], extra: [], firstDifference: -1 };
  }
  const ourSet = new Set(ours);
  const theirSet = new Set(theirs);
  const missing = theirs.filter((n) => !ourSet.has(n));
  const extra = ours.filter((n) => !theirSet.has(n));
  const parts = [internal.verdict, app.verdict];
  let verdict: Verdict;
  if (parts.every((v) => v === "equal" || v === "ahead")) verdict = "ahead";
  else if (parts.every((v) => v === "equal" || v === "behind")) verdict = "behind";
  else verdict = "diverged";
  const firstDifference = internal.verdict !== "equal" ? internal.at : oi + app.at;
  return { verdict, missing, extra, firstDifference };
}

/**
 * Describes a comparison in one sentence for error messages and logs, e.g.
 * `lacks "b", "c"; has "x" that the other lacks`.
 */
export function describeComparison(c: ExtensionComparison, theirs?: readonly string[]): string {
  if (c.verdict === "equal") return "extension lists are equal";
  const parts: string[] = [];
  const q = (names: string[]) => names.map((n) => `"${n}"`).join(", ");
  if (c.missing.length) parts.push(`lacks ${q(c.missing)}`);
  if (c.extra.length) parts.push(`has ${q(c.extra)} that the other lacks`);
  if (!parts.length) {
    const at = c.firstDifference;
    const other = theirs?.[at];
    parts.push(
      `same extensions in a different order (first difference at position ${at}${
        other ? `, where the other has "${other}"` : ""
      })`,
    );
  }
  return parts.join("; ");
}

/**
 * Decodes an extension list from JSON input: an array of strings, or a bare string (MicroCluster
 * emits one for single-entry lists). `null`/`undefined` decode to an empty list.
 *
 * @throws {InvalidInputError} when the value is neither.
 */
export function decodeExtensionList(value: unknown, field = "extensions"): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value === "string") return value === "" ? [] : [value];
  if (Array.isArray(value)) {
    return value.map((v, i) => {
      if (typeof v !== "string") {
        throw new InvalidInputError(`Invalid ${field}.${i}: expected a string, got ${typeof v}`, {
          field: `${field}.${i}`,
        });
      }
      return v;
    });
  }
  throw new InvalidInputError(`Invalid ${field}: expected an array of strings`, { field });
}

/**
 * An immutable, validated extension list: the internal names followed by the app's.
 *
 * Build it once at daemon start with {@link ExtensionRegistry.create}; it never changes while
 * the process runs (a new list means a new binary and a restart, as in MicroCluster).
 */
export class ExtensionRegistry {
  /** cohort-owned names, oldest first. */
  readonly internal: readonly string[];
  /** The app's names, oldest first. */
  readonly app: readonly string[];
  /** The unified list: `internal` then `app`. */
  readonly list: readonly string[];
  #set: Set<string>;
  #digest?: string;

  private constructor(internal: readonly string[], app: readonly string[]) {
    this.internal = Object.freeze([...internal]);
    this.app = Object.freeze([...app]);
    this.list = Object.freeze([...internal, ...app]);
    this.#set = new Set(this.list);
  }

  /**
   * Validates and builds a registry from the app's names (and, for tests, another internal
   * list).
   *
   * @throws {InvalidInputError} naming the first empty, malformed, reserved or duplicate entry.
   */
  static create(
    app: readonly string[] = [],
    internal: readonly string[] = INTERNAL_EXTENSIONS,
  ): ExtensionRegistry {
    const seen = new Set<string>();
    internal.forEach((name, i) => {
      validateExtensionName(name, "internal", `internal extension ${i}`);
      if (seen.has(name)) {
        throw new InvalidInputError(`Invalid internal extension ${i} "${name}": duplicate name`);
      }
      seen.add(name);
    });
    app.forEach((name, i) => {
      validateExtensionName(name, "app", `extensions.${i}`);
      if (seen.has(name)) {
        throw new InvalidInputError(`Invalid extensions.${i} "${name}": duplicate name`, {
          field: `extensions.${i}`,
        });
      }
      seen.add(name);
    });
    return new ExtensionRegistry(internal, app);
  }

  /**
   * Validates a unified list received from another member (internal names first, then app
   * names) and splits it back into its two parts.
   *
   * @throws {InvalidInputError} for malformed, duplicate or misplaced entries.
   */
  static fromList(list: readonly string[], field = "extensions"): ExtensionRegistry {
    const split = internalCount(list);
    const internal = list.slice(0, split);
    const app = list.slice(split);
    app.forEach((name, i) => {
      if (name.startsWith(INTERNAL_PREFIX)) {
        throw new InvalidInputError(
          `Invalid ${field}.${
            split + i
          } "${name}": internal extensions must come before app extensions`,
          { field: `${field}.${split + i}` },
        );
      }
    });
    try {
      return ExtensionRegistry.create(app, internal);
    } catch (err) {
      if (err instanceof InvalidInputError) throw new InvalidInputError(err.message, { field });
      throw err;
    }
  }

  /** Number of extensions, the registry's "API version". */
  get count(): number {
    return this.list.length;
  }

  /** Reports whether this member runs the named extension. O(1). */
  has(name: string): boolean {
    return this.#set.has(name);
  }

  /** Compares this registry with another member's list. See {@link compareExtensions}. */
  compare(theirs: readonly string[] | ExtensionRegistry): ExtensionComparison {
    return compareExtensions(this.list, theirs instanceof ExtensionRegistry ? theirs.list : theirs);
  }

  /**
   * A short, stable digest of the unified list (hex SHA-256 of the names joined by newlines,
   * first 16 hex digits), so gossip can carry a fingerprint instead of hundreds of names.
   */
  get digest(): string {
    this.#digest ??= extensionDigest(this.list);
    return this.#digest;
  }

  /** JSON always encodes the list as an array. */
  toJSON(): string[] {
    return [...this.list];
  }
}

/** Computes the digest {@link ExtensionRegistry.digest} uses for any list. */
export function extensionDigest(list: readonly string[]): string {
  return createHash("sha256").update(list.join("\n")).digest("hex").slice(0, 16);
}
