/**
 * uvu's `suite`, with one fix: an error thrown by a `before` hook is printed. uvu runs the hook
 * inside a `try … finally` whose `return` discards the error, so every test of the suite then
 * fails (or a file reports `0 / N`) with no reason given. Import `suite` from here in any test
 * file with a `before` hook.
 */
import { suite as uvuSuite, type Test } from "uvu";

/** uvu's `suite` (same arguments); see the module docs. */
export function suite<T = Record<string, unknown>>(name?: string, context?: T): Test<T> {
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
  return test;
}
