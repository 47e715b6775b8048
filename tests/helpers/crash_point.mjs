/**
 * A crash point for the kill -9 tests (preloaded like `leash.mjs`, see `process.ts`): when the
 * environment names one, the process kills itself with SIGKILL at the moment it writes the
 * matching JSON log line to stderr, before it runs one more statement: it installs the process's
 * log sink (`lib/log_sink.ts`'s `stderrSink`), writing each line in the logging call itself. That times a `kill -9`
 * on the member's own log lines exactly, where a test reading the lines from a pipe would kill
 * it some milliseconds later, at a point that changes from run to run.
 *
 * `COHORT_TEST_CRASH_ON`: JSON `{"msg": text, "fields"?: {k: v}, "nth"?: n}`: the n-th line (1 by
 * default) whose `msg` contains `text` and whose fields equal `fields`; or an array of such
 * objects, for a line that matches any of them (counted with the first one's `nth`).
 * `COHORT_TEST_CRASH_MARK`: a file the matching line is written to just before the kill, so a
 * test can tell the point was reached.
 *
 * Plain JavaScript: Node runs `dist/mod.js` without a TypeScript loader.
 */
import { writeFileSync } from "node:fs";
import process from "node:process";

const spec = process.env.COHORT_TEST_CRASH_ON;
if (spec) {
  const specs = [JSON.parse(spec)].flat();
  const nth = specs[0].nth ?? 1;
  const mark = process.env.COHORT_TEST_CRASH_MARK;
  let seen = 0;
  const write = process.stderr.write.bind(process.stderr);
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const hit = (entry) =>
    specs.some(({ msg, fields = {} }) =>
      String(entry.msg ?? "").includes(msg) &&
      Object.entries(fields).every(([k, v]) => same(entry[k], v))
    );
  const matches = (text) => {
    for (const line of String(text).split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        if (hit(JSON.parse(line))) return line;
      } catch { /* not a whole JSON line */ }
    }
    return undefined;
  };
  // The process's log sink (lib/log_sink.ts), installed before cohort loads: each line goes to
  // stderr at once, in the logging call, and the kill follows it there.
  const kill = (text) => {
    const line = matches(text);
    if (line !== undefined && ++seen === nth) {
      if (mark) writeFileSync(mark, line + "\n");
      process.kill(process.pid, "SIGKILL");
    }
  };
  globalThis[Symbol.for("cohort.stderrSink")] = {
    dropped: 0,
    closed: false,
    write(line) {
      write(line);
      kill(line);
    },
    flush: () => Promise.resolve(),
  };
}
