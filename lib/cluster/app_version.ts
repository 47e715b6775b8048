/**
 * The embedding app's version string: the one rule every entry point applies (`--app-version`,
 * `createMember({ appVersion })`, `PUT /core/control/app-version`, `cohort app-version`), so a
 * bad value gets the same message wherever it comes from.
 *
 * @module
 */
import { InvalidInputError } from "../errors.ts";

/** The app version a member reports when none was given. */
export const DEFAULT_APP_VERSION = "0.0.0";

/** The longest app version accepted, in characters. */
export const APP_VERSION_MAX_LENGTH = 64;

/** The rule in words, for messages and help texts. */
export const APP_VERSION_RULE =
  `1 to ${APP_VERSION_MAX_LENGTH} printable ASCII characters without spaces`;

// Printable ASCII minus the space: the value travels in every gossip frame and is printed in
// tables and logs, where whitespace or control characters would garble the output.
const PRINTABLE = /^[\x21-\x7e]+$/;

/**
 * Returns why `version` is not a valid app version, or `undefined` when it is. Valid:
 * {@link APP_VERSION_RULE} (e.g. `1.2.3`, `2024.05.1-rc1+g1a2b3c`). The message never repeats
 * the value, which may be huge.
 */
export function appVersionProblem(version: string): string | undefined {
  if (version.length === 0) return `must be ${APP_VERSION_RULE}: it is empty`;
  if (version.length > APP_VERSION_MAX_LENGTH) {
    return `must be ${APP_VERSION_RULE}: it has ${version.length} characters`;
  }
  if (!PRINTABLE.test(version)) {
    return `must be ${APP_VERSION_RULE}: it contains a space, a control or a non-ASCII character`;
  }
  return undefined;
}

/**
 * Throws unless `version` is a valid app version (see {@link appVersionProblem}).
 *
 * @param field how the caller names the value, e.g. `app_version` or `appVersion`.
 * @throws {InvalidInputError} naming `field` and the rule.
 */
export function checkAppVersion(version: string, field: string): void {
  const problem = appVersionProblem(version);
  if (problem) throw new InvalidInputError(`Invalid ${field}: ${problem}`, { field });
}
