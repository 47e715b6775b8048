/**
 * The parsers of the CLI's flag values (`lib/cli/flag_values.ts`) and the bounds the commands
 * give them: each bound is the API's where the value reaches the daemon. The same values from outside, through the real command line and a real member:
 * tests/e2e/cli_bounds.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { is } from "superstruct";
import { choiceFlag, durationFlag, secondsFlag } from "../../lib/cli/flag_values.ts";
import { DEAD_GRACE_BOUNDS } from "../../lib/cli/commands/daemon.ts";
import { SHUTDOWN_TIMEOUT_BOUNDS } from "../../lib/cli/commands/shutdown.ts";
import { JOIN_TOKEN_MAX_CHARS } from "../../lib/cli/commands/init.ts";
import { SQL_QUERY_MAX_CHARS, SQL_TIMEOUT_BOUNDS } from "../../lib/cli/commands/sql.ts";
import { EXPIRE_AFTER_BOUNDS } from "../../lib/cli/commands/tokens.ts";
import { WAITREADY_TIMEOUT_BOUNDS } from "../../lib/cli/commands/waitready.ts";
import { UsageError } from "../../lib/cli/usage.ts";
import { ControlBody, MAX_TOKEN_EXPIRY_NS, SqlBody, SqlTimeout } from "../../routes/structs.ts";

const test = suite("CLI flag values");

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    assert.instance(err, UsageError);
    return (err as Error).message;
  }
  assert.unreachable("not refused");
  return "";
};

test("the SQL timeout's bounds are the API's", () => {
  const { min, max } = SQL_TIMEOUT_BOUNDS;
  assert.ok(is(min, SqlTimeout) && is(max, SqlTimeout));
  assert.not.ok(is(min - 1e-6, SqlTimeout), "below the least");
  assert.not.ok(is(max + 1e-6, SqlTimeout), "past the most");
});

test("the longest query and join token are the API's", () => {
  const query = (n: number) => ({ query: "x".repeat(n) });
  assert.ok(is(query(SQL_QUERY_MAX_CHARS), SqlBody));
  assert.not.ok(is(query(SQL_QUERY_MAX_CHARS + 1), SqlBody));
  const control = (n: number) => ({
    bootstrap: false,
    name: "m1",
    address: "127.0.0.1:7000",
    join_token: "x".repeat(n),
  });
  assert.ok(is(control(JOIN_TOKEN_MAX_CHARS), ControlBody));
  assert.not.ok(is(control(JOIN_TOKEN_MAX_CHARS + 1), ControlBody));
});

test("a token's longest validity is the API's", () => {
  assert.is(EXPIRE_AFTER_BOUNDS.maxMs * 1e6, MAX_TOKEN_EXPIRY_NS);
  assert.is(
    durationFlag("e", EXPIRE_AFTER_BOUNDS.maxText, "3h", EXPIRE_AFTER_BOUNDS) * 1e6,
    MAX_TOKEN_EXPIRY_NS,
  );
});

test("the CLI's waits are a day at most, an upgrade grace 100 years at most", () => {
  assert.is(SHUTDOWN_TIMEOUT_BOUNDS.max, 86_400);
  assert.is(WAITREADY_TIMEOUT_BOUNDS.max, 86_400);
  assert.is(DEAD_GRACE_BOUNDS.maxMs, EXPIRE_AFTER_BOUNDS.maxMs);
  assert.is(
    durationFlag("g", DEAD_GRACE_BOUNDS.maxText, "0", DEAD_GRACE_BOUNDS),
    DEAD_GRACE_BOUNDS.maxMs,
  );
});

test("seconds: decimal notation within the bounds, 0 only where it means something", () => {
  const b = { min: 0.001, max: 60 };
  assert.is(secondsFlag("t", undefined, 30, b), 30);
  for (const [v, n] of [["60", 60], ["0.001", 0.001], [".5", 0.5], ["007", 7]] as const) {
    assert.is(secondsFlag("t", v, 30, b), n, v);
  }
  for (const v of ["0", "60.0001", "0.0009", "1e1", "0x10", " 5", "5 ", "Infinity", "+5", "5."]) {
    assert.is(
      refusal(() => secondsFlag("t", v, 30, b)),
      `--t must be a number of seconds from 0.001 to 60, got "${v}"`,
    );
  }
  const forever = { ...b, zero: "wait forever" };
  assert.is(secondsFlag("t", "0", 30, forever), 0);
  assert.is(secondsFlag("t", "0.000", 30, forever), 0);
  assert.match(
    refusal(() => secondsFlag("t", "-0", 30, forever)),
    /^--t must be 0 \(wait forever\) or/,
  );
});

test("durations: 0 written as zero means never; one that rounds to 0 ms or passes the bound is refused", () => {
  const b = { maxMs: 86_400_000, maxText: "1d", zero: "never" };
  assert.is(durationFlag("d", undefined, "3h", b), 3 * 3_600_000);
  for (
    const [v, ms] of [["0", 0], ["0s", 0], ["0.0ms", 0], ["1ms", 1], ["0.5ms", 1], [
      "1d",
      86_400_000,
    ], ["23h60m", 86_400_000]] as const
  ) {
    assert.is(durationFlag("d", v, "3h", b), ms, v);
  }
  for (
    const v of [
      "0.1ms",
      "0.4ms",
      "1d1ms",
      "2d",
      "1e3d",
      "10",
      "",
      "-1s",
      "1 h",
      "9".repeat(400) + "d",
    ]
  ) {
    assert.is(
      refusal(() => durationFlag("d", v, "3h", b)),
      `--d must be 0 (never) or a duration from 1ms to 1d, such as 30m, 3h, 1h30m or 2d, got "${v}"`,
    );
  }
});

test("choices: exactly one of them, case and spaces as listed", () => {
  const choices = ["lan", "local"] as const;
  assert.is(choiceFlag("p", undefined, choices, "lan"), "lan");
  assert.is(choiceFlag("p", "local", choices, "lan"), "local");
  for (const v of ["LAN", "local ", "", "lan,local"]) {
    assert.is(
      refusal(() => choiceFlag("p", v, choices, "lan")),
      `--p must be one of lan, local, got "${v}"`,
    );
  }
});

test.run();
