import { existsSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startDaemon } from "../../lib/daemon/daemon.ts";
import { InvalidInputError } from "../../lib/errors.ts";
import { removeDir, tempDir } from "../helpers/process.ts";

const test = suite("daemon app version");

test("startDaemon() refuses an invalid appVersion before touching the state directory", async () => {
  const dir = tempDir();
  const stateDir = join(dir, "state");
  try {
    const err = await startDaemon({
      stateDir,
      appVersion: "1.0 beta",
      handler: () => () => Promise.reject(new Error("not called")),
      gossip: () => {
        throw new Error("not called");
      },
    }).then(() => undefined, (e: unknown) => e);
    assert.instance(err, InvalidInputError);
    assert.is((err as InvalidInputError).field, "appVersion");
    assert.match((err as Error).message, /^Invalid appVersion: must be 1 to 64 printable ASCII/);
    assert.not.ok(existsSync(stateDir), "the state directory was not created");
  } finally {
    removeDir(dir);
  }
});

test.run();
