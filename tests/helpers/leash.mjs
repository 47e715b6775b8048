/**
 * A leash for processes that tests start (preloaded with `node --import` or `deno run
 * --preload`, see `process.ts`): the process kills itself with SIGKILL as soon as its parent is
 * gone, so that a test process that dies in any way (SIGKILL included, where no exit hook runs)
 * takes its daemons with it. A daemon's certificate process then sees its input end and exits.
 *
 * It polls the parent pid twice a second (an orphan is re-parented to init or a subreaper); the
 * timer never keeps the process alive. Plain JavaScript: Node runs `dist/mod.js` without a
 * TypeScript loader.
 */
import process from "node:process";
import { setInterval } from "node:timers";

const parent = process.ppid;
const timer = setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGKILL");
}, 500);
timer.unref();
