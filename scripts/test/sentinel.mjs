/**
 * The test runner's sentinel: kills what the runner started if the runner dies without doing it
 * (SIGKILL, an OOM kill, a crash in a native module).
 *
 * The runner starts it in a session of its own (so a signal to the runner's process group does
 * not reach it) and writes one line per change on its standard input: `+PGID` when it starts a
 * process group, `-PGID` once that group is gone. When standard input ends (the runner exited,
 * however it exited), the sentinel SIGKILLs every group still listed, removes the run's temporary
 * directory (its first argument), and exits. It ignores SIGINT, SIGTERM and SIGHUP: a Ctrl-C or a
 * hang-up aimed at the runner must not take it out before it has done its job.
 *
 * Plain JavaScript so that Node starts it in milliseconds without a TypeScript loader.
 */
import { rmSync } from "node:fs";
import process from "node:process";

const groups = new Set();
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => {});

let rest = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  const lines = (rest + chunk).split("\n");
  rest = lines.pop() ?? "";
  for (const line of lines) {
    const pgid = Number(line.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (line[0] === "+") groups.add(pgid);
    else if (line[0] === "-") groups.delete(pgid);
  }
});
process.stdin.on("close", () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch { /* the group is already gone */ }
  }
  const dir = process.argv[2];
  if (dir) rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
