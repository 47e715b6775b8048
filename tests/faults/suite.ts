/**
 * How a fault test registers itself: as a test when the machine can run the matrix; otherwise
 * (see `system.ts`) as a visible skip, or under CI as a failure naming the reason. The reason
 * is printed once per file.
 *
 * @module
 */
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import { faultSupport, underCi } from "./system.ts";

/** Why the matrix cannot run here, or `undefined`. */
export const unsupported: string | undefined = faultSupport();
if (unsupported) {
  console.log(`fault matrix ${underCi ? "FAILED" : "SKIPPED"}: ${unsupported}`);
}

/** Registers `fn` on `test` under `title`, or a skip (a failure under CI) when unsupported. */
export function faultTest<T>(
  test: Test<T>,
  title: string,
  fn: (ctx: T) => void | Promise<void>,
): void {
  if (!unsupported) test(title, fn);
  else if (underCi) test(title, () => assert.unreachable(`cannot run: ${unsupported}`));
  else test.skip(title, fn);
}
