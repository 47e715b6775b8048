/**
 * End to end: a daemon whose log reader goes away (`cohort daemon 2>&1 | head`, a log collector
 * restarted, a terminal closed) keeps serving. Its next log line meets a closed pipe (EPIPE);
 * that must cost the lines, never the member.
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { LOG_BACKLOG_BYTES } from "../../lib/log_sink.ts";
import { selfCommand } from "../../lib/runtime.ts";
import { appCommand } from "../helpers/app.ts";
import {
  cohort,
  ENTRY,
  freePort,
  removeDir,
  spawnTracked,
  tempDir,
  waitForSocket,
} from "../helpers/process.ts";

const test = suite("a process's log pipe");
const FLOOD = join(import.meta.dirname ?? ".", "fixtures", "log_flood.ts");

/** Polls `check` every 20 ms until it returns something truthy, failing after `ms` with `state`. */
async function until<T>(
  check: () => T | null | undefined | false,
  ms: number,
  state: () => string,
) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms; last: ${state()}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

test("the daemon keeps serving after the reader of its stderr and stdout is gone", async () => {
  const dir = tempDir();
  const { command, args } = selfCommand(ENTRY);
  const child = spawnTracked(command, [...args, "daemon", "--state-dir", dir], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", COHORT_LOG_LEVEL: "debug" },
  });
  const exited = new Promise<number | string>((done) =>
    child.on("close", (code, signal) => done(code ?? signal ?? -1))
  );
  try {
    // The first line read, the reader goes: the daemon's next lines meet a closed pipe.
    await new Promise((done) => child.stderr!.once("data", done));
    child.stderr!.destroy();
    child.stdout!.destroy();
    await waitForSocket(dir, undefined, 30_000);
    const port = await freePort();
    const init = await cohort([
      "init",
      "p1",
      `127.0.0.1:${port}`,
      "--bootstrap",
      "--state-dir",
      dir,
    ]);
    assert.is(init.code, 0, init.stderr);
    for (const name of ["a", "b", "c"]) {
      const token = await cohort(["tokens", "add", name, "--state-dir", dir]);
      assert.is(token.code, 0, token.stderr);
    }
    const list = await cohort(["cluster", "list", "--state-dir", dir]);
    assert.is(list.code, 0, list.stderr);
    assert.match(list.stdout, /p1\s+127\.0\.0\.1:\d+\s+voter/);
    assert.is(child.exitCode, null, "the daemon is still running");
    const stop = await cohort(["shutdown", "--state-dir", dir]);
    assert.is(stop.code, 0, stop.stderr);
    assert.is(await exited, 0, "a clean exit once asked to stop");
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
    removeDir(dir);
  }
});

test("a reader that stops reading holds neither the process nor its memory: lines beyond the bound are dropped and counted", async () => {
  // Under Node as plain JavaScript against dist/: a TypeScript loader compiling on first use runs
  // esbuild beside it, which shares its stderr and leaves it in blocking mode.
  const { command, args } = appCommand(FLOOD);
  const child = spawnTracked(command, [...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  const exited = new Promise<number | string>((done) =>
    child.on("close", (code, signal) => done(code ?? signal ?? -1))
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  const early = (d: Buffer) => (err += d);
  child.stderr!.on("data", early);
  try {
    await until(() => out.includes("ready\n"), 30_000, () => `${out} ${err}`);
    // The reader stops: after the pipe (64 KiB) and this end's buffer fill, every write waits.
    child.stderr!.off("data", early);
    child.stderr!.pause();
    err = "";
    child.stdin!.write("go\n");
    const logged = await until(
      () => /logged (\d+)\n/.exec(out),
      30_000,
      () => `${out} (exit: ${child.exitCode ?? child.signalCode})`,
    );
    const ticksThen = (out.match(/tick/g) ?? []).length;
    await until(() => (out.match(/tick/g) ?? []).length >= ticksThen + 3, 10_000, () => out);
    // Node kept all 3 MB queued in memory before; now at most the bound and one line more.
    assert.ok(Number(logged[1]) <= LOG_BACKLOG_BYTES + 2048, `backlog ${logged[1]} bytes`);
    // The reader back: what was kept arrives, then one line counts what was dropped.
    child.stderr!.on("data", (d: Buffer) => (err += d));
    child.stderr!.resume();
    const note = await until(
      () => /"msg":"Dropped log lines[^\n]*"dropped":(\d+)/.exec(err),
      30_000,
      () => err.slice(-300),
    );
    const kept = (err.match(/"msg":"flood"/g) ?? []).length;
    assert.ok(kept >= 60, `lines kept: ${kept}`);
    assert.is(kept + Number(note[1]), 3000, "every line written or counted");
    child.stdin!.end();
    assert.is(await exited, 0);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  }
});

test.run();
