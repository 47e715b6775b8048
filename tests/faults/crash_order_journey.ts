/**
 * The user journey the crash-order check records (`crash_order.fault.ts`), on three members of
 * an app with an extension server (`crash_order_app.ts`), each daemon under strace
 * (`crash_trace_run.ts`), driven as a user drives them: the CLI for `init --bootstrap`,
 * `tokens add`, `init --token`, `cluster remove` and `shutdown`; the API for records and the
 * extension server's address. Each step's start is noted for the trace's times.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  allOnline,
  api,
  eventually,
  freePortAddress,
  type Member,
  newMember,
  run,
} from "../helpers/cluster.ts";
import { appCommand } from "../helpers/app.ts";
import { exitOf } from "../helpers/process.ts";
import type { Step } from "./crash_order_check.ts";
import { startTraced, traceComplete, type TracedMember } from "./crash_trace_run.ts";

/** The app every member of the journey runs. */
export const APP = appCommand(join(import.meta.dirname ?? ".", "crash_order_app.ts"));

/** What the journey did: its members (stopped, traces complete), steps and trace texts. */
export interface Journey {
  members: TracedMember[];
  steps: Step[];
  traces: Map<TracedMember, string>;
}

/** Runs `cohort argv` on `m`; throws with its output unless it exits 0. Returns its stdout. */
async function cli(m: Member, argv: string[]): Promise<string> {
  const r = await run(m, argv);
  if (r.code !== 0) throw new Error(`cohort ${argv.join(" ")} on ${m.name}: ${r.code} ${r.stderr}`);
  return r.stdout;
}

/** `api`, throwing unless the answer is 2xx. */
async function request(m: Member, method: string, path: string, body?: unknown): Promise<void> {
  const r = await api(m, method, path, body, 30_000);
  if (r.status >= 300) {
    throw new Error(`${method} ${path} on ${m.name}: ${r.status} ${r.body?.error}`);
  }
}

/**
 * Runs the journey, recording every member's trace into `traceDir`; `started` receives each
 * member as soon as it exists (to be stopped by the caller whatever happens; its state directory
 * is `state` in a temporary directory of its own, made by its daemon).
 */
export async function journey(traceDir: string, started: (m: Member) => void): Promise<Journey> {
  const steps: Step[] = [];
  // Microseconds, as strace's times: `Date.now()` (whole ms, rounded down) put a step's start
  // before the answer that ended the step before it, when the answer took under a ms to arrive.
  const step = (name: string) =>
    steps.push({ name, at: (performance.timeOrigin + performance.now()) / 1000 });
  const members: TracedMember[] = [];
  step("start");
  for (const name of ["c1", "c2", "c3"]) {
    const m = await newMember(name);
    // The daemon makes its state directory, as at an operator's first start: that it survives
    // a crash is part of the check.
    m.dir = join(m.dir, "state");
    started(m);
    members.push(await startTraced(m, join(traceDir, `${name}.trace`), APP));
  }
  const [c1, c2, c3] = members;
  step("init --bootstrap c1");
  await cli(c1, ["init", c1.name, c1.address, "--bootstrap"]);
  for (const m of [c2, c3]) {
    step(`tokens add ${m.name}`);
    const token = (await cli(c1, ["tokens", "add", m.name])).trim().split("\n").pop()!;
    step(`init --token ${m.name}`);
    await cli(m, ["init", m.name, m.address, "--token", token]);
  }
  step("roles settle");
  await allOnline(members, ["c1", "c2", "c3"], 60_000);
  await eventually("three voters", async () => {
    const list = (await api(c1, "GET", "/core/1.0/cluster")).body.metadata as { role: string }[];
    return list.filter((e) => e.role === "voter").length === 3;
  }, 60_000);
  step("records written");
  await request(c1, "PUT", "/core/1.0/records/one", { value: { n: 1 } });
  await request(c2, "PUT", "/core/1.0/records/two", { value: "two" });
  step("extension server given an address");
  await request(c1, "PUT", "/core/1.0/daemon/servers", {
    web: { address: await freePortAddress() },
  });
  step("cluster remove c3");
  await cli(c1, ["cluster", "remove", c3.name]);
  await eventually("c3 uninitialised", async () => {
    const r = await api(c3, "GET", "/core/1.0");
    return r.body?.metadata?.address === "";
  }, 60_000);
  step("shutdown");
  const traces = new Map<TracedMember, string>();
  for (const m of members) {
    await cli(m, ["shutdown"]);
    await exitOf(m.daemon!, `${m.name}'s shutdown`, 60_000);
    traces.set(m, await traceComplete(m));
  }
  // What a replay needs beside the traces (see {@link replayJourney}).
  const kept = members.map(({ name, dir, port, address, trace }) => ({
    name,
    dir,
    port,
    address,
    trace,
  }));
  writeFileSync(join(traceDir, "journey.json"), JSON.stringify({ steps, members: kept }));
  return { members, steps, traces };
}

/**
 * The journey `journey()` recorded into `traceDir` (kept with `COHORT_CRASH_TRACES`), read back
 * without running anything: its crash states, sampled with the seed a run printed, are then the
 * same states (a new journey's timings, and so its trace, differ from run to run).
 */
export function replayJourney(traceDir: string): Journey {
  const kept = JSON.parse(readFileSync(join(traceDir, "journey.json"), "utf8")) as {
    steps: Step[];
    members: TracedMember[];
  };
  const traces = new Map(kept.members.map((m) => [m, readFileSync(m.trace, "latin1")]));
  return { members: kept.members, steps: kept.steps, traces };
}
