/**
 * uvu's `suite`, with two additions. An error thrown by a `before` hook is printed: uvu runs the
 * hook inside a `try … finally` whose `return` discards the error, so every test of the suite
 * then fails (or a file reports `0 / N`) with no reason given. And a suite may say what to print
 * when one of its tests fails (`onFailure`): an assertion says what a client got, the daemon's
 * log says why (a connection closed unread, a deadline), and a failure seen once on a busy CI
 * machine may not be seen again. Import `suite` from here in any test file with a `before` hook.
 */
import { type Callback, suite as uvuSuite, type Test } from "uvu";

/**
 * uvu's `suite` (same first arguments); see the module docs. `onFailure` returns what to print
 * when a test of the suite throws (before uvu reports the failure); an error it throws itself
 * is printed instead.
 */
export function suite<T = Record<string, unknown>>(
  name?: string,
  context?: T,
  onFailure?: (ctx: T) => string,
): Test<T> {
  const test = uvuSuite<T>(name, context);
  const before = test.before;
  const loud = ((hook: (ctx: T) => unknown) =>
    before(async (ctx) => {
      try {
        await hook(ctx);
      } catch (err) {
        console.error(`\n${name ?? "suite"}: its before hook failed, so no test of it ran:`, err);
        throw err;
      }
    })) as Test<T>["before"];
  loud.each = before.each;
  test.before = loud;
  if (!onFailure) return test;
  const report = (fn: Callback<T>): Callback<T> => async (ctx) => {
    try {
      await fn(ctx);
    } catch (err) {
      let text: string;
      try {
        text = onFailure(ctx);
      } catch (e) {
        text = `(nothing to print: ${e})`;
      }
      console.error(`\n${name ?? "suite"}: "${ctx.__test__}" failed:\n${text}`);
      throw err;
    }
  };
  const reporting = ((title: string, fn: Callback<T>) => test(title, report(fn))) as Test<T>;
  reporting.only = (title, fn) => test.only(title, report(fn));
  reporting.skip = test.skip;
  reporting.before = test.before;
  reporting.after = test.after;
  reporting.run = test.run;
  return reporting;
}
