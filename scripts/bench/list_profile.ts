/**
 * `cluster_list.ts --profile DIR`: a process answering list requests profiled through its
 * inspector (Node and Deno alike, `cpu_profile.ts`) over one measured run per connection shape;
 * each profile is written to DIR and summarised as self time per request by part of the request
 * path (node:http, cohort's adapter, routes, router, metrics, log, gc, native) and by function.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  connectProfiler,
  type CpuProfile,
  inspectorUrl,
  summarise,
  topFunctions,
} from "./cpu_profile.ts";

/** What is profiled: a label, the process's inspector address (in its stderr). */
export interface Profiled {
  label: string;
  stderr(): string;
}

/**
 * Profiles `target` while `run(keepAlive)` sends `requests` requests of each shape (fresh
 * connections, then one kept), writes `DIR/<label's first word>-<runtime>-<shape>.cpuprofile`
 * and prints the summaries.
 */
export async function profileList<T extends Profiled>(
  target: T,
  run: (target: T, keepAlive: boolean) => Promise<unknown>,
  options: { dir: string; runtime: string; requests: number },
): Promise<void> {
  const { dir, runtime, requests } = options;
  mkdirSync(dir, { recursive: true });
  const url = inspectorUrl(target.stderr());
  if (!url) throw new Error(`${target.label}: no inspector address in its output`);
  const profiler = await connectProfiler(url);
  try {
    for (const keepAlive of [false, true]) {
      const shape = keepAlive ? "keep-alive" : "fresh";
      await profiler.start();
      await run(target, keepAlive);
      const profile: CpuProfile = await profiler.stop();
      const name = `${target.label.split(" ")[0]}-${runtime}-${shape}`;
      writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
      const { parts, wallMs } = summarise(profile);
      const busy = [...parts].filter(([p]) => p !== "idle").reduce((a, [, ms]) => a + ms, 0);
      console.log(
        `\n${target.label}, ${shape}: sampled ${(busy / requests).toFixed(3)} ms busy per ` +
          `request over ${(wallMs / 1000).toFixed(1)} s (profiler on: slower than the table)`,
      );
      console.log("| part | ms per request | share |");
      console.log("|---|---|---|");
      for (const [part, ms] of [...parts].sort((a, b) => b[1] - a[1])) {
        if (part === "idle") continue;
        console.log(
          `| ${part} | ${(ms / requests).toFixed(4)} | ${(100 * ms / busy).toFixed(1)} % |`,
        );
      }
      console.log("\ntop functions (self ms per request):");
      for (const [fn, ms] of topFunctions(profile, 30)) {
        console.log(`  ${(ms / requests).toFixed(4)}  ${fn}`);
      }
    }
  } finally {
    profiler.close();
  }
}
