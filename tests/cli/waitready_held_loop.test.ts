/**
 * `cohort waitready --timeout S` whose own event loop is held past its deadline (the command
 * stopped with SIGSTOP and continued, a VM paused, a starved machine): it judged "not ready" on
 * its last answer from before the hold, without asking the daemon once more, though the daemon
 * had become ready meanwhile. Here the command runs in this process (`runCli`), a daemon stand-in
 * answers on the control socket, and the loop is held (`held_loop.ts`). With a real daemon and a
 * stopped command, see `tests/e2e/waitready_held.test.ts`.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { CliDeps } from "../../lib/cli/command.ts";
import { runCli } from "../../lib/cli/main.ts";
import { actThenHold } from "../helpers/held_loop.ts";
import { removeDir, tempDir } from "../helpers/process.ts";
import { readyStandIn } from "../helpers/ready_stand_in.ts";
import { sink } from "./_helpers.ts";

const test = suite("waitready held past its deadline");

function deps(): { d: CliDeps; err: { text: string } } {
  const err = sink();
  return {
    d: { startDaemon: () => Promise.reject(new Error("unused")), stdout: sink(), stderr: err },
    err,
  };
}

/** Resolves once `check` holds, polling every 10 ms. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}

test("ready during the hold: it asks once more after the deadline and exits 0", async () => {
  const dir = tempDir("cohort-waitready-");
  const { state, listener } = await readyStandIn(dir);
  try {
    const { d, err } = deps();
    const started = performance.now();
    const code = runCli(["waitready", "--timeout", "1", "--state-dir", dir], d);
    await until(() => state.asked > 0);
    // The daemon becomes ready, then the command's loop is held until well past its deadline
    // (1 s from its start, which came after `started`).
    await actThenHold(() => (state.ready = true), started + 1500 - performance.now());
    assert.is(await code, 0, err.text);
    assert.is(state.askedReady, 1, "asked once more, after the hold");
  } finally {
    await listener.close();
    removeDir(dir);
  }
});

test("never ready: it gives up after its deadline and says why", async () => {
  const dir = tempDir("cohort-waitready-");
  const { state, listener } = await readyStandIn(dir);
  try {
    const { d, err } = deps();
    assert.is(await runCli(["waitready", "--timeout", "0.3", "--state-dir", dir], d), 1);
    assert.match(
      err.text,
      /^Error: the daemon was not ready after 0\.3 s: Daemon is not ready yet/,
    );
    assert.ok(state.asked > 0);
  } finally {
    await listener.close();
    removeDir(dir);
  }
});

test.run();
