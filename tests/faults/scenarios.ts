/**
 * The fault scenarios, each a function that builds its own network and cluster, plays the
 * fault, measures, and removes everything on every exit path. Tests (`*.fault.ts`) assert on
 * the figures they return; `scripts/faults/run.ts` prints them.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { PRESETS } from "../../gossip/config.ts";
import { api, eventually, isClean } from "../helpers/cluster.ts";
import { NsCohort } from "./cohort_members.ts";
import { FaultNet } from "./netns.ts";
import { SerfAgents } from "./serf_agents.ts";
import { load } from "./system.ts";
import { type Accusation, countVerdicts, type Verdicts } from "./verdicts.ts";

/** Progress lines go to stderr, prefixed, so test output shows where a slow scenario is. */
export function note(text: string): void {
  console.error(`[faults] ${text}`);
}

/** cohort's accusations logged by `members` of `c` in [from, to]. */
export function cohortAccusations(c: NsCohort, from: number, to = Infinity): Accusation[] {
  const out: Accusation[] = [];
  c.members.forEach((m, i) => {
    for (const e of c.events(i, from)) {
      if (e.time > to) continue;
      if (e.event === "member-suspect") {
        out.push({ observer: m.name, member: e.member, kind: "suspect", time: e.time });
      } else if (e.event === "member-failed") {
        out.push({ observer: m.name, member: e.member, kind: "failed", time: e.time });
      }
    }
  });
  return out;
}

function serfAccusations(s: SerfAgents, from: number, to = Infinity): Accusation[] {
  const out: Accusation[] = [];
  s.names().forEach((name, i) => {
    for (const e of s.events(i, from)) {
      if (e.time > to || e.event === "join") continue;
      out.push({ observer: name, member: e.member, kind: e.event, time: e.time });
    }
  });
  return out;
}

// --- partition --------------------------------------------------------------------------------

/** Options of {@link partitionScenario}. */
export interface PartitionOptions {
  size: number;
  preset?: "lan" | "local";
  /** How long the partition holds, ms. @default 30000 */
  holdMs?: number;
  /** Force-remove a member of the minority from the majority side during the partition. */
  removeDuring?: boolean;
  /** Where to write each member's log at the end (`<name>.log`). @default none */
  logDir?: string;
}

/** Figures of one partition run. */
export interface PartitionResult {
  size: number;
  preset: "lan" | "local";
  minority: string[];
  /** The member removed during the partition, if any, and the CLI's exit code. */
  removed?: { name: string; code: number; stderr: string };
  /** Push-pull interval of the preset, ms. */
  pushPullMs: number;
  /** Time from the heal until every remaining member listed exactly the remaining members ONLINE. */
  convergeMs: number | undefined;
  /** The last disagreement seen, when there was no one view by the deadline. */
  problem?: string;
  /** Whether the removed member reset itself (uninitialised again) after the heal. */
  removedReset?: boolean;
  load: { before: string; after: string };
}

/**
 * Forms `size` members, cuts off the last third (rounded) for `holdMs`, optionally removes
 * (`cluster remove --force`, from member 0) the first minority member meanwhile, heals, and
 * times the return to one view. Waits up to three push-pull intervals for it.
 */
export async function partitionScenario(o: PartitionOptions): Promise<PartitionResult> {
  const preset = o.preset ?? "local";
  const hold = o.holdMs ?? 30_000;
  const pushPullMs = PRESETS[preset].pushPullIntervalMs;
  const net = FaultNet.create(o.size);
  const c = new NsCohort(net, { preset });
  try {
    const before = load();
    await c.form();
    const k = Math.max(1, Math.round(o.size / 3));
    const all = c.members.map((_, i) => i);
    const majority = all.slice(0, o.size - k);
    const minority = all.slice(o.size - k);
    note(`${o.size} members (${preset}) formed; partition ${c.names(minority)} for ${hold} ms`);
    const cut = Date.now();
    net.partition([majority, minority]);
    const result: PartitionResult = {
      size: o.size,
      preset,
      minority: c.names(minority),
      pushPullMs,
      convergeMs: undefined,
      load: { before, after: "" },
    };
    let remaining = all;
    if (o.removeDuring) {
      const victim = minority[0];
      const name = c.members[victim].name;
      // The majority first sees the victim gone, as an operator would before forcing.
      await eventually(`${name} unreachable from m0`, async () => {
        const entry = (await c.view(0)).find((e) => e.name === name);
        return entry?.status === "UNREACHABLE";
      }, hold).catch(() => {});
      const r = await c.cli(0, ["cluster", "remove", name, "--force"]);
      result.removed = { name, code: r.code, stderr: r.stderr.trim() };
      note(`removed ${name} on ${c.members[0].name}: exit ${r.code} ${r.stderr.trim()}`);
      remaining = all.filter((i) => i !== victim);
    }
    await sleep(Math.max(0, cut + hold - Date.now()));
    net.heal();
    const healed = Date.now();
    note(`healed at ${healed}`);
    const view = await c.timeToOneView(remaining, c.names(remaining), healed, 3 * pushPullMs);
    result.convergeMs = view.ms;
    result.problem = view.problem;
    if (result.removed) {
      // The removed member learns its removal from the others and resets itself.
      const victim = c.members[minority[0]];
      result.removedReset = await eventually(`${victim.name} reset`, async () => {
        const info = await api(victim, "GET", "/core/1.0");
        return isClean(victim) && info.body?.metadata?.address === "";
      }, pushPullMs).catch(() => false);
    }
    result.load.after = load();
    return result;
  } finally {
    if (o.logDir) c.saveLogs(o.logDir);
    await c.close();
    net.destroy();
  }
}

// --- one-way partition ------------------------------------------------------------------------

/** Figures of one one-way partition run. */
export interface OneWayResult {
  size: number;
  preset: "lan" | "local";
  /** `from` hears `to`; `to` does not hear `from`. */
  from: string;
  to: string;
  holdMs: number;
  /** Packets from `from` that `to` dropped (proof the rule was in force). */
  dropped: number;
  /** Accusations during the fault (nobody was down, so every one is false). */
  during: Verdicts;
  /** Time from the heal until one view, ms (undefined: none within two push-pull intervals). */
  convergeMs: number | undefined;
  problem?: string;
  load: { before: string; after: string };
}

/**
 * Forms `size` members, then drops at member 2 every packet from member 1 (1 hears 2, 2 does
 * not hear 1) for `holdMs`; counts accusations meanwhile; heals and waits for one view.
 */
export async function oneWayScenario(
  o: { size: number; preset?: "lan" | "local"; holdMs?: number },
): Promise<OneWayResult> {
  const preset = o.preset ?? "local";
  const holdMs = o.holdMs ?? 30_000;
  const net = FaultNet.create(o.size);
  const c = new NsCohort(net, { preset });
  try {
    const before = load();
    await c.form();
    const all = c.members.map((_, i) => i);
    note(`${o.size} members (${preset}) formed; ${c.members[2].name} stops hearing m1`);
    const start = Date.now();
    net.oneWay(1, 2);
    await sleep(holdMs);
    const end = Date.now();
    const dropped = net.dropped(2);
    net.heal();
    const result: OneWayResult = {
      size: o.size,
      preset,
      from: c.members[1].name,
      to: c.members[2].name,
      holdMs,
      dropped,
      during: countVerdicts(cohortAccusations(c, start, end)),
      convergeMs: undefined,
      load: { before, after: "" },
    };
    const view = await c.timeToOneView(all, c.names(), end, 2 * PRESETS[preset].pushPullIntervalMs);
    result.convergeMs = view.ms;
    result.problem = view.problem;
    result.load.after = load();
    return result;
  } finally {
    await c.close();
    net.destroy();
  }
}

// --- random loss ------------------------------------------------------------------------------

/** Figures of one loss run, for cohort and serf side by side. */
export interface LossResult {
  size: number;
  lossPercent: number;
  durationMs: number;
  preset: "lan" | "local";
  cohort?: Verdicts;
  serf?: Verdicts;
  /** Packets the rules dropped, all nodes together. */
  dropped: number;
  /** cohort: time from the end of the loss until one view (undefined: none in a push-pull interval). */
  cohortRecoverMs?: number;
  problem?: string;
  load: { before: string; after: string };
}

/**
 * Forms `size` cohort members and `size` serf agents in the same namespaces (each member next
 * to an agent, both running at once so they share the machine's load), then drops
 * `lossPercent` % of all packets between nodes for `durationMs` and counts each system's
 * accusations over that window. Nobody is down, so every accusation is false.
 */
export async function lossScenario(o: {
  size: number;
  lossPercent: number;
  durationMs: number;
  preset?: "lan" | "local";
  systems?: ("cohort" | "serf")[];
  /** Where to keep cohort's member logs (`<dir>/<name>.log`), for a closer look. */
  logDir?: string;
  /** cohort's log level. @default "info" */
  logLevel?: "debug" | "info";
}): Promise<LossResult> {
  const preset = o.preset ?? "lan";
  const systems = o.systems ?? ["cohort", "serf"];
  const net = FaultNet.create(o.size);
  const c = systems.includes("cohort")
    ? new NsCohort(net, { preset, logLevel: o.logLevel })
    : undefined;
  const s = systems.includes("serf") ? new SerfAgents(net, preset) : undefined;
  try {
    const before = load();
    await Promise.all([c?.form(), s?.form()]);
    // Let join traffic settle before the window opens.
    await sleep(3000);
    note(`${o.size} nodes (${preset}): ${o.lossPercent} % loss for ${o.durationMs} ms; ${before}`);
    net.loss(o.lossPercent);
    const start = Date.now();
    await sleep(o.durationMs);
    const end = Date.now();
    const dropped = net.nodes.reduce((sum, n) => sum + net.dropped(n.index), 0);
    net.heal();
    const result: LossResult = {
      size: o.size,
      lossPercent: o.lossPercent,
      durationMs: end - start,
      preset,
      dropped,
      load: { before, after: load() },
    };
    if (c) result.cohort = countVerdicts(cohortAccusations(c, start, end));
    if (s) result.serf = countVerdicts(serfAccusations(s, start, end));
    if (c) {
      const all = c.members.map((_, i) => i);
      const view = await c.timeToOneView(all, c.names(), end, PRESETS[preset].pushPullIntervalMs);
      result.cohortRecoverMs = view.ms;
      result.problem = view.problem;
      if (o.logDir) c.saveLogs(o.logDir);
    }
    return result;
  } finally {
    await Promise.all([c?.close(), s?.close()]);
    net.destroy();
  }
}
