/**
 * What a command says when the control socket cannot be reached: "is it running?" when no daemon
 * holds the state directory; when one does (its socket missing or refusing: starting, stopping,
 * or, under Deno, not bound again at its limit of open files), that it runs and why it may not
 * answer. It said "is it running?" of a member that ran. With a real member at its limit, see
 * `tests/faults/fd_limit.fault.ts`.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { callDaemon } from "../../lib/cli/daemon_client.ts";
import { moduleCommand } from "../../lib/runtime.ts";
import { removeDir, tempDir } from "../helpers/process.ts";

const test = suite("a control socket that cannot be reached");

const HOLDER = join(import.meta.dirname ?? ".", "fixtures", "hold_lock.ts");

/** The message `callDaemon` fails with for state directory `dir`. */
async function failure(dir: string): Promise<string> {
  const err = await callDaemon(dir, "GET", "/core/1.0").then(() => undefined, (e: Error) => e);
  assert.ok(err, "the call failed");
  return err.message;
}

test("no daemon holds the state directory: is it running?", async () => {
  const dir = tempDir("cohort-unreachable-");
  try {
    assert.match(
      await failure(dir),
      /^Cannot reach the cohort daemon at "[^"]+": is it running\?$/,
    );
  } finally {
    removeDir(dir);
  }
});

test("a daemon holds it without a socket: it runs, and why it may not answer", async () => {
  const dir = tempDir("cohort-unreachable-");
  const { command, args } = moduleCommand(HOLDER);
  const child = spawn(command, [...args, dir], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise<void>((held, failed) => {
      child.stdout!.on("data", (d) => /held/.test(String(d)) && held());
      child.once("exit", (code) => failed(new Error(`the lock holder exited with ${code}`)));
    });
    assert.match(
      await failure(dir),
      new RegExp(
        `^The cohort daemon at "[^"]+" runs \\(pid ${child.pid}\\) but does not accept ` +
          "connections on its control socket: it may be starting or stopping, or be out of " +
          "file descriptors \\(see its log\\)$",
      ),
    );
  } finally {
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    removeDir(dir);
  }
});

test.run();
