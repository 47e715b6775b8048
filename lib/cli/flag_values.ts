/**
 * The values of the CLI's numeric, duration and enumerated flags: one parser per kind, each
 * with its bounds, so a value outside them is a usage error (exit 2) naming the flag and the
 * rule, never cut to fit (`cohort sql --timeout 1000` ran with 60 s and said nothing) and never
 * handed on to break something further in (`cohort shutdown --timeout 1e308` armed a timer
 * Node fired at once, `--expire-after 0.1ms` made a token that never expires). The help texts
 * state the same bounds from the same objects.
 *
 * @module
 */
import { parseDuration } from "../cluster/token.ts";
import { UsageError } from "./usage.ts";

/** The bounds of a flag given in seconds (see {@link secondsFlag}). */
export interface SecondsBounds {
  /** The least, in seconds (more than 0). */
  readonly min: number;
  /** The most, in seconds. */
  readonly max: number;
  /** What 0 means when 0 is allowed (e.g. "wait forever"); absent: 0 is refused. */
  readonly zero?: string;
}

/** `[0 (ZERO) or ]a number of seconds from MIN to MAX`: the rule of a seconds flag. */
export function secondsRule(bounds: SecondsBounds): string {
  const range = `a number of seconds from ${bounds.min} to ${bounds.max}`;
  return bounds.zero === undefined ? range : `0 (${bounds.zero}) or ${range}`;
}

// Decimal notation only: `Number` also reads "0x10", "1e3", " 5 " and "Infinity".
const DECIMAL = /^(?:\d+(?:\.\d+)?|\.\d+)$/;

/**
 * The seconds given to `--flag` (`value`, or `fallback` when the flag is absent).
 *
 * @throws {UsageError} naming the flag and {@link secondsRule} when `value` is not a decimal
 * number within `bounds` (or 0 where allowed)
 */
export function secondsFlag(
  flag: string,
  value: string | undefined,
  fallback: number,
  bounds: SecondsBounds,
): number {
  if (value === undefined) return fallback;
  const n = DECIMAL.test(value) ? Number(value) : NaN;
  const zero = n === 0 && bounds.zero !== undefined;
  if (!zero && !(n >= bounds.min && n <= bounds.max)) {
    throw new UsageError(`--${flag} must be ${secondsRule(bounds)}, got "${value}"`);
  }
  return n;
}

/** The bounds of a flag given as a duration (see {@link durationFlag}). */
export interface DurationBounds {
  /** The most, in ms. */
  readonly maxMs: number;
  /** The most as the user writes it, e.g. `36525d`. */
  readonly maxText: string;
  /** What 0 means (e.g. "never expires"). */
  readonly zero: string;
}

/** `0 (ZERO) or a duration from 1ms to MAX, such as …`: the rule of a duration flag. */
export function durationRule(bounds: DurationBounds): string {
  return `0 (${bounds.zero}) or a duration from 1ms to ${bounds.maxText}, such as 30m, 3h, ` +
    "1h30m or 2d";
}

/**
 * The duration given to `--flag` in ms (`value`, or `fallback` when absent), as
 * `parseDuration` reads it: 0 (any zero spelled with units too) or 1 ms to `bounds.maxMs`.
 *
 * @throws {UsageError} naming the flag and {@link durationRule} for anything else: a duration
 * that rounds to 0 ms (it would mean "never"), or one past the bound
 */
export function durationFlag(
  flag: string,
  value: string | undefined,
  fallback: string,
  bounds: DurationBounds,
): number {
  const text = value ?? fallback;
  let ms: number;
  try {
    ms = parseDuration(text, `--${flag}`);
  } catch {
    ms = NaN;
  }
  // "0.1ms" rounds to 0, which reads as "never": only a zero written as zero means that.
  const roundedToZero = ms === 0 && /[1-9]/.test(text);
  if (!(ms >= 0 && ms <= bounds.maxMs) || roundedToZero) {
    throw new UsageError(`--${flag} must be ${durationRule(bounds)}, got "${text}"`);
  }
  return ms;
}

/**
 * The choice given to `--flag` (`value`, or `fallback` when absent).
 *
 * @throws {UsageError} naming the flag and the choices for any other value
 */
export function choiceFlag<C extends string>(
  flag: string,
  value: string | undefined,
  choices: readonly C[],
  fallback: C,
): C {
  const chosen = value ?? fallback;
  if (!(choices as readonly string[]).includes(chosen)) {
    throw new UsageError(`--${flag} must be one of ${choices.join(", ")}, got "${chosen}"`);
  }
  return chosen as C;
}
