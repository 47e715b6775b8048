/**
 * The contract of a log sink, run against both: `queuedSink` (Deno's asynchronous stderr) and
 * `streamSink` (Node's stderr stream). A reader that reads gets every line in order; one that
 * stops reading costs lines beyond the bound, counted in one line once it reads again; one that
 * is gone closes the sink; nothing ever throws or waits.
 */
import { EventEmitter } from "node:events";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type LogSink, type LogStream, queuedSink, streamSink } from "../lib/log_sink.ts";

/** A reader on the other end of the pipe: it reads, stops, resumes, or goes away. */
interface Reader {
  sink: LogSink;
  /** What it has read. */
  text(): string;
  stop(): void;
  resume(): void;
  breakPipe(): void;
}

const BOUND = 4096;
const decoder = new TextDecoder();
const tick = () => new Promise((done) => setTimeout(done, 5));

/** `queuedSink` over a writer whose writes wait while the reader is stopped. */
function queued(): Reader {
  let read = "";
  let stopped = false;
  let broken = false;
  const waiting: (() => void)[] = [];
  const sink = queuedSink((chunk) =>
    new Promise((done, fail) => {
      const take = () => {
        if (broken) return fail(new Error("EPIPE"));
        read += decoder.decode(chunk);
        done(chunk.length);
      };
      if (stopped || broken) waiting.push(take);
      else setTimeout(take, 0);
    }), { maxBacklogBytes: BOUND, now: () => 7 });
  return {
    sink,
    text: () => read,
    stop: () => (stopped = true),
    resume: () => {
      stopped = false;
      for (const take of waiting.splice(0)) take();
    },
    breakPipe: () => {
      broken = true;
      for (const take of waiting.splice(0)) take();
    },
  };
}

/** `streamSink` over a stream that keeps what its reader has not taken, as a socket does. */
function streamed(): Reader {
  let read = "";
  let stopped = false;
  let broken = false;
  const pending: string[] = [];
  const emitter = new EventEmitter();
  const backlog = () => pending.reduce((n, s) => n + s.length, 0);
  const stream = Object.defineProperty(
    Object.assign(emitter, {
      write(chunk: string) {
        if (broken) throw new Error("write after EPIPE");
        pending.push(chunk);
        if (!stopped) setTimeout(drainAll, 0);
        return backlog() < 1024;
      },
    }),
    "writableLength",
    { get: backlog },
  ) as unknown as LogStream;
  const drainAll = () => {
    if (stopped || broken || pending.length === 0) return;
    read += pending.splice(0).join("");
    emitter.emit("drain");
  };
  return {
    sink: streamSink(stream, { maxBacklogBytes: BOUND, now: () => 7 }),
    text: () => read,
    stop: () => (stopped = true),
    resume: () => {
      stopped = false;
      drainAll();
    },
    breakPipe: () => {
      broken = true;
      emitter.emit("error", new Error("EPIPE"));
    },
  };
}

const line = (i: number) => JSON.stringify({ msg: "line", i, pad: "x".repeat(80) }) + "\n";

for (const [name, make] of [["queuedSink", queued], ["streamSink", streamed]] as const) {
  const test = suite(`${name} (the log sink contract)`);

  test("a reader that reads gets every line, in order", async () => {
    const r = make();
    for (let i = 0; i < 30; i++) r.sink.write(line(i)); // within the bound
    await r.sink.flush(1000);
    await tick();
    const got = r.text().trim().split("\n").map((l) => JSON.parse(l).i);
    assert.equal(got, [...Array(30).keys()]);
    assert.is(r.sink.dropped, 0);
  });

  test("a stopped reader: writes return at once; beyond the bound lines are dropped, then counted in one line", async () => {
    const r = make();
    r.stop();
    r.sink.write(line(0));
    await tick();
    for (let i = 1; i < 200; i++) r.sink.write(line(i)); // 200 × ~100 bytes: 5 × the bound
    assert.ok(r.sink.dropped > 100, `dropped ${r.sink.dropped}`);
    const dropped = r.sink.dropped;
    r.resume();
    await r.sink.flush(1000);
    await tick();
    await r.sink.flush(1000);
    await tick();
    const lines = r.text().trim().split("\n").map((l) => JSON.parse(l));
    const note = lines.at(-1);
    assert.equal(note, {
      level: 40,
      time: 7,
      component: "log",
      msg: "Dropped log lines: their reader was not reading",
      dropped,
    });
    const kept = lines.slice(0, -1).map((l) => l.i);
    assert.is(kept.length + dropped, 200, "every line written or counted");
    assert.equal(kept, [...kept].sort((a, b) => a - b), "in order");
    assert.is(r.sink.dropped, 0);
  });

  test("a reader gone: the sink closes, later writes are ignored, nothing throws", async () => {
    const r = make();
    r.stop();
    r.sink.write(line(0));
    await tick();
    r.breakPipe();
    await tick();
    r.sink.write(line(1));
    await tick();
    assert.ok(r.sink.closed);
    r.sink.write(line(2));
    await r.sink.flush(100);
  });

  test("flush gives up after its time limit while the reader stays stopped", async () => {
    const r = make();
    r.stop();
    r.sink.write(line(0));
    await tick();
    r.sink.write(line(1));
    const started = Date.now();
    await r.sink.flush(50);
    assert.ok(Date.now() - started >= 40, "waited for the limit");
  });

  test.run();
}
