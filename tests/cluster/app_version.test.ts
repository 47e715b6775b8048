import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  APP_VERSION_MAX_LENGTH,
  appVersionProblem,
  checkAppVersion,
} from "../../lib/cluster/app_version.ts";
import { InvalidInputError } from "../../lib/errors.ts";

const test = suite("app version");

test("appVersionProblem() accepts printable ASCII without spaces, 1 to 64 characters", () => {
  for (
    const v of ["0.0.0", "1", "2024.05.1-rc1+g1a2b3c", "v".repeat(APP_VERSION_MAX_LENGTH), "!~"]
  ) {
    assert.is(appVersionProblem(v), undefined, v);
  }
});

test("appVersionProblem() rejects empty, long, spaced, control and non-ASCII values", () => {
  const cases: [string, RegExp][] = [
    ["", /it is empty$/],
    ["v".repeat(65), /it has 65 characters$/],
    ["1.0 beta", /a space/],
    ["1.0\t", /a control/],
    ["1.0\u007f", /a control/],
    ["1.0é", /non-ASCII/],
  ];
  for (const [v, message] of cases) {
    const problem = appVersionProblem(v);
    assert.match(problem ?? "", /^must be 1 to 64 printable ASCII characters without spaces: /);
    assert.match(problem ?? "", message, JSON.stringify(v));
  }
});

test("the message never repeats a huge value", () => {
  const problem = appVersionProblem("z".repeat(1_000_000))!;
  assert.ok(problem.length < 120, problem);
  assert.not.match(problem, "zzzz");
});

test("checkAppVersion() throws an InvalidInputError naming the field", () => {
  checkAppVersion("1.2.3", "app_version");
  try {
    checkAppVersion("a b", "app_version");
    assert.unreachable("must throw");
  } catch (err) {
    assert.instance(err, InvalidInputError);
    assert.is((err as InvalidInputError).field, "app_version");
    assert.match((err as Error).message, /^Invalid app_version: must be 1 to 64 printable/);
  }
});

test.run();
