/**
 * Benchmark: the idle cost under Deno of keeping listeners accepting (`lib/net/keep_accepting.ts`:
 * a member port told to listen again every 2 s, a control socket that connects to itself every
 * 5 s), which an idle member pays for as long as it runs.
 *
 * Runs pairs of Deno processes side by side for `--seconds`: each listens on a TCP port and a
 * unix socket as a member does; one of each pair keeps them accepting, the other does not.
 * Reports each process's CPU over the window (its threads' run time, `run_time.ts`) and the
 * difference per hour. Both processes of a pair run at the same time, so the machine's load
 * weighs on both alike; `--pairs` pairs give a spread.
 *
 * Usage: `node --import tsx scripts/bench/keep_accepting_idle.ts [--seconds 60] [--pairs 3]`
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { threadRunMs } from "./run_time.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");

/** The child: listens as a member does, keeps accepting when asked, idles until killed. */
const CHILD = `
import { createServer } from "node:net";
import { keepAccepting, keepAcceptingOnPath } from ${
  JSON.stringify(join(root, "lib/net/keep_accepting.ts"))
};
const [keep, path] = Deno.args;
const tcp = createServer(() => {});
const unix = createServer((socket) => socket.destroy());
tcp.listen(0, "127.0.0.1", () => {
  unix.listen(path, () => {
    if (keep === "keep") {
      keepAccepting(tcp);
      keepAcceptingOnPath(unix, path, 0o660, () => {});
    }
    console.log("ready");
  });
});
`;

function startChild(keep: boolean, dir: string, n: number): Promise<ChildProcess> {
  const child = spawn(
    resolve(root, "node_modules/.bin/deno"),
    ["eval", "--ext=ts", CHILD, keep ? "keep" : "plain", join(dir, `s${n}.sock`)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((done, fail) => {
    child.stdout!.once("data", () => done(child));
    child.once("exit", (code) => fail(new Error(`a child exited (${code}) before it listened`)));
  });
}

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "60" }, pairs: { type: "string", default: "3" } },
});
const seconds = Number(values.seconds);
const pairs = Number(values.pairs);
const dir = mkdtempSync(join(tmpdir(), "cohort-keep-"));
const children: ChildProcess[] = [];
try {
  for (let i = 0; i < pairs; i++) {
    children.push(await startChild(true, dir, 2 * i), await startChild(false, dir, 2 * i + 1));
  }
  // Past the start-up's own work before the window opens.
  await new Promise((r) => setTimeout(r, 3000));
  const before = children.map((c) => threadRunMs(c.pid!));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const used = children.map((c, i) => threadRunMs(c.pid!) - before[i]);
  const rows: string[] = [];
  for (let i = 0; i < pairs; i++) {
    const [kept, plain] = [used[2 * i], used[2 * i + 1]];
    const perHour = ((kept - plain) / seconds) * 3600;
    rows.push(
      `pair ${i}: keeping ${kept.toFixed(1)} ms, plain ${plain.toFixed(1)} ms over ${seconds} s: ` +
        `${perHour.toFixed(0)} ms of CPU an hour (${
          ((kept - plain) / seconds / 10).toFixed(4)
        } % of a core)`,
    );
  }
  console.log(rows.join("\n"));
} finally {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
