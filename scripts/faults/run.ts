/**
 * Runs fault scenarios on real network paths (network namespaces, a bridge, nftables; as root)
 * and prints their figures, each with the machine's load (`uptime`) before and after.
 *
 * Usage: `npm run build && node --import tsx scripts/faults/run.ts SCENARIO [options]`
 * - `partition [--sizes 5,10] [--preset lan|local] [--runs 1] [--hold 30]`: a third cut off for
 *   `--hold` s with a forced removal on the other side, then healed; prints the time to one view
 *   after the heal beside the push-pull interval.
 * - `one-way [--sizes 5,10] [--preset lan|local] [--hold 30]`: m2 stops hearing m1; prints the
 *   accusations meanwhile and the time to one view after the heal.
 * - `loss [--sizes 5,10] [--loss 10,30] [--duration 300] [--systems cohort,serf]`: cohort and
 *   serf side by side in the same namespaces (`lan` timing), `--loss` % of packets dropped for
 *   `--duration` s; prints false dead verdicts and suspicions of each (see
 *   `tests/faults/verdicts.ts` for how they are counted).
 *   `--log-dir DIR` keeps cohort's member logs of each run (`DIR/N<size>-<loss>-<run>/<name>.log`),
 *   `--log-level debug` makes them tell more (refused and lost connections, probes failed).
 * - `--wait-load L`: before each run, wait (up to 20 min) until the 1-minute load is below L.
 * - `--json`: one JSON line per run instead of the text line.
 *
 * Installs nftables and serf with apt-get when missing. Everything a run creates (namespaces,
 * bridge, nft tables, processes, state directories) is removed when it ends, on errors and on
 * Ctrl-C too.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import {
  lossScenario,
  note,
  oneWayScenario,
  partitionScenario,
} from "../../tests/faults/scenarios.ts";
import { faultSupport, load } from "../../tests/faults/system.ts";
import { formatVerdicts } from "../../tests/faults/verdicts.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sizes: { type: "string", default: "5,10" },
    preset: { type: "string", default: "lan" },
    runs: { type: "string", default: "1" },
    hold: { type: "string", default: "30" },
    loss: { type: "string", default: "10,30" },
    duration: { type: "string", default: "300" },
    systems: { type: "string", default: "cohort,serf" },
    "wait-load": { type: "string" },
    json: { type: "boolean", default: false },
    "log-dir": { type: "string" },
    "log-level": { type: "string", default: "info" },
    help: { type: "boolean", short: "h", default: false },
  },
});

const scenario = positionals[0];
if (values.help || !["partition", "one-way", "loss"].includes(scenario ?? "")) {
  const doc = readFileSync(new URL(import.meta.url), "utf8");
  console.log(doc.slice(doc.indexOf("Usage:"), doc.indexOf(" */")).replace(/^ \* ?/gm, ""));
  process.exit(values.help ? 0 : 2);
}

function list(text: string, min: number, max: number, what: string): number[] {
  const out = text.split(",").map(Number);
  for (const n of out) {
    if (!Number.isInteger(n) || n < min || n > max) {
      console.error(`Invalid ${what} "${text}": integers from ${min} to ${max}, comma-separated`);
      process.exit(2);
    }
  }
  return out;
}

const sizes = list(values.sizes, 3, 50, "--sizes");
const runs = list(values.runs, 1, 100, "--runs")[0];
const holdMs = list(values.hold, 5, 3600, "--hold")[0] * 1000;
const losses = list(values.loss, 1, 99, "--loss");
const durationMs = list(values.duration, 10, 7200, "--duration")[0] * 1000;
const preset = values.preset === "local" ? "local" : "lan";
const systems = values.systems.split(",").filter((s) => s === "cohort" || s === "serf") as (
  | "cohort"
  | "serf"
)[];
const waitLoad = values["wait-load"] === undefined ? undefined : Number(values["wait-load"]);

const reason = faultSupport();
if (reason) {
  console.error(`Cannot run the fault scenarios: ${reason}`);
  process.exit(1);
}

async function quiet(): Promise<void> {
  if (waitLoad === undefined) return;
  const deadline = Date.now() + 20 * 60_000;
  while (Date.now() < deadline) {
    const one = Number(/load ([\d.]+)/.exec(load())?.[1]);
    if (one < waitLoad) return;
    note(`waiting for the load to drop below ${waitLoad} (${load()})`);
    await sleep(30_000);
  }
  note(`load still ${load()}: running anyway`);
}

function out(line: string, data: unknown): void {
  console.log(values.json ? JSON.stringify(data) : line);
}

const s = (ms: number | undefined) => (ms === undefined ? "none" : `${(ms / 1000).toFixed(1)} s`);

for (const size of sizes) {
  for (let run = 1; run <= runs; run++) {
    if (scenario === "partition") {
      await quiet();
      const r = await partitionScenario({ size, preset, holdMs, removeDuring: true });
      out(
        `partition N=${size} ${preset} run ${run}: cut ${r.minority.join(",")} for ${
          holdMs / 1000
        } s, removed ${r.removed?.name} (exit ${r.removed?.code}); one view ${
          s(r.convergeMs)
        } after the heal (push-pull interval ${s(r.pushPullMs)})${
          r.problem ? ` [${r.problem}]` : ""
        }; removed member reset: ${r.removedReset}; ${r.load.before} → ${r.load.after}`,
        r,
      );
    } else if (scenario === "one-way") {
      await quiet();
      const r = await oneWayScenario({ size, preset, holdMs });
      out(
        `one-way N=${size} ${preset} run ${run}: ${r.to} does not hear ${r.from} for ${
          holdMs / 1000
        } s: ${formatVerdicts(r.during)}; one view ${s(r.convergeMs)} after the heal${
          r.problem ? ` [${r.problem}]` : ""
        }; ${r.load.before} → ${r.load.after}`,
        r,
      );
    } else {
      for (const loss of losses) {
        await quiet();
        const logDir = values["log-dir"] === undefined
          ? undefined
          : join(values["log-dir"], `N${size}-${loss}-${run}`);
        const logLevel = values["log-level"] === "debug" ? "debug" : "info";
        const r = await lossScenario({
          size,
          lossPercent: loss,
          durationMs,
          preset,
          systems,
          logDir,
          logLevel,
        });
        out(
          `loss N=${size} ${loss}% ${preset} ${durationMs / 1000} s run ${run}: cohort ${
            r.cohort ? formatVerdicts(r.cohort) : "-"
          } | serf ${r.serf ? formatVerdicts(r.serf) : "-"} | packets dropped ${r.dropped}` +
            ` | cohort one view ${
              s(r.cohortRecoverMs)
            } after the loss | ${r.load.before} → ${r.load.after}`,
          r,
        );
      }
    }
  }
}
process.exit(0);
