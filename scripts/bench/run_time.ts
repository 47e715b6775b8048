/**
 * A process's CPU time from its threads' run time, for the benchmarks that compare idle members
 * (scale.ts, idle_wakes.ts, cluster_list.ts).
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU time of process `pid` so far, in ms: the run time of its live threads, from
 * `/proc/PID/task/TID/schedstat` (ns). utime+stime come in 10 ms ticks, too coarse for an idle
 * member at 0.3 % of a core (about 6 ticks in a 20 s window). A thread that ended since the last
 * call takes its time with it: read the figure over windows in which the process keeps its
 * threads.
 */
export function threadRunMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch { /* thread gone */ }
  }
  return ns / 1e6;
}
