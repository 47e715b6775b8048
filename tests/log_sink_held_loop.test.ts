/**
 * Flushing the log (`flush`, before a finished command exits) whose reader took the lines in
 * time while the process's event loop was held (stopped with SIGSTOP and continued, its VM
 * paused, swapping) hands over every line, not gives up with lines still queued (which the exit
 * then drops): a held loop runs its expired timers before it writes to the pipe again, and the
 * flush's limit must look once more (`lib/net/late_deadline.ts`).
 *
 * Played with a real pipe to a real reader (a child that starts reading half a second late):
 * the pipe is filled, the flush starts, and the loop is held in that I/O callback until the
 * reader has emptied the pipe, and past the flush's limit.
 * Deno read the pipe first even with a plain timer; Node did not.
 */
import { spawn } from "node:child_process";
import { readFileSync, stat } from "node:fs";
import { tmpdir } from "node:os";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type LogStream, streamSink } from "../lib/log_sink.ts";
import { holdLoop } from "./helpers/held_loop.ts";

const test = suite("a log flushed while the loop was held");

/** The flush's limit here: over the reader's half second late start. */
const LIMIT_MS = 1500;

/** How many bytes process `pid` has read so far. */
function bytesRead(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, "utf8");
  return Number(/^rchar: (\d+)$/m.exec(io)![1]);
}

test("hands over every line", async () => {
  const reader = spawn("sh", ["-c", "sleep 0.5; exec cat > /dev/null"], {
    stdio: ["pipe", "ignore", "ignore"],
  });
  const stream = reader.stdin!;
  stream.on("error", () => {});
  try {
    const sink = streamSink(stream as unknown as LogStream, { maxBacklogBytes: 1 << 20 });
    const line = JSON.stringify({ msg: "line", pad: "x".repeat(200) }) + "\n";
    let written = 0;
    // Past what the pipe takes while nobody reads (64 KiB on Linux): the rest (~30 KiB, what
    // the pipe takes at once again when emptied) waits queued.
    for (let i = 0; i < 440; i++, written += line.length) sink.write(line);
    assert.ok(stream.writableLength > 0, "lines wait queued");
    const flushed = await new Promise<Promise<void>>((done) =>
      stat(tmpdir(), () => {
        const start = performance.now();
        const inPipe = written - stream.writableLength;
        const flushing = sink.flush(LIMIT_MS);
        // Until the reader has emptied the pipe (`sh` became `cat`: its own reads count), then
        // past the limit by more than a held loop's margin (100 ms).
        while (bytesRead(reader.pid!) < inPipe) holdLoop(20);
        holdLoop(start + LIMIT_MS + 500 - performance.now());
        done(flushing);
      })
    );
    await flushed;
    assert.is(stream.writableLength, 0, "every line handed to the pipe");
  } finally {
    reader.kill("SIGKILL");
  }
});

test.run();
