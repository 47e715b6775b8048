/**
 * JSON Schemas of the named refinements the request structs use (`refine(string(), NAME, …)` in
 * `routes/structs.ts`): the rules of `lib/cluster/address.ts` and `lib/cluster/app_version.ts`
 * written as patterns. tests/routes/openapi_samples.test.ts checks each one against the rule it
 * stands for, on generated strings, so a change to either side shows.
 *
 * @module
 */
import { APP_VERSION_MAX_LENGTH } from "../../lib/cluster/app_version.ts";
import type { JsonSchema } from "./json_schema.ts";

/** A DNS label: 1–63 letters, digits and inner hyphens. */
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/** A DNS name: dot-separated labels (its 253-character limit is checked apart). */
const DNS_NAME = `${LABEL}(?:\\.${LABEL})*`;
const V4_PART = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const V4 = `(?:${V4_PART}\\.){3}${V4_PART}`;
const H = "[0-9A-Fa-f]{1,4}";

/**
 * An IPv6 address as `node:net` `isIP` accepts it, without a zone index: eight groups, or fewer
 * around one `::`, the last two groups possibly written as IPv4.
 */
function ipv6(): string {
  const forms = [`(?:${H}:){7}${H}`, `(?:${H}:){6}${V4}`];
  // `a` groups before the `::`, which stands for at least one group of zeros.
  for (let a = 0; a <= 7; a++) {
    const left = a === 0 ? "" : a === 1 ? H : `(?:${H}:){${a - 1}}${H}`;
    const right = [a < 7 ? `(?:${H}(?::${H}){0,${6 - a}})?` : ""];
    if (a <= 5) right.unshift(`(?:${H}:){0,${5 - a}}${V4}`);
    forms.push(`${left}::(?:${right.join("|")})`);
  }
  return `(?:${forms.join("|")})`;
}

/** A port from 1 to 65535, without leading zeros. */
const PORT = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|" +
  "6553[0-5])";

/** Schemas by refinement name; `examples[0]` is what probes of a list of such values use. */
export const REFINEMENTS: Readonly<Record<string, JsonSchema>> = {
  "member name": {
    type: "string",
    minLength: 1,
    maxLength: 253,
    pattern: `^${DNS_NAME}$`,
    description: "A DNS name: dot-separated labels of 1 to 63 letters, digits and inner hyphens, " +
      "at most 253 characters",
    examples: ["c1"],
  },
  address: {
    type: "string",
    // A name whose last label a resolver reads as a number (`127.1`, `0x7f.1`) is not a name.
    pattern:
      `^(?:${V4}|(?!(?:[^:]*\\.)?(?:[0-9]+|0[xX][0-9A-Fa-f]*):)(?=[^:]{1,253}:)${DNS_NAME}|` +
      `\\[${ipv6()}\\]):${PORT}$`,
    description: '"host:port": an IPv4 address (four numbers 0 to 255 without leading zeros), a ' +
      "DNS name whose last label is not a number, or a bracketed IPv6 address without a zone " +
      "index; and a port from 1 to 65535 without leading zeros",
    examples: ["10.0.0.1:9001"],
  },
  "SHA-256 hex digest": {
    type: "string",
    pattern: "^[0-9a-f]{64}$",
    description: "A SHA-256 digest as 64 lowercase hex digits",
    examples: ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
  },
  "claim round": {
    type: "string",
    pattern: "^[0-9a-f]{32}$",
    description: "The admitting member's claim round: 32 lowercase hex digits",
    examples: ["0123456789abcdef0123456789abcdef"],
  },
  "app version": {
    type: "string",
    minLength: 1,
    maxLength: APP_VERSION_MAX_LENGTH,
    pattern: "^[!-~]+$",
    description: `1 to ${APP_VERSION_MAX_LENGTH} printable ASCII characters without spaces`,
    examples: ["1.2.3"],
  },
};
