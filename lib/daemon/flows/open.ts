/**
 * The start of an initialised member (a restart, possibly with new versions). In this order:
 *
 * 1. the network starts announcing the versions this member last ran with (its own stored row),
 *    never the ones it is about to try: a refused attempt must change nobody's verdict;
 * 2. it learns the cluster: push-pulls, and the members that do not answer them asked whether it
 *    was removed while it was down (they no longer trust it, so gossip cannot tell it; see
 *    `rejoin_learn.ts`). Removed: it resets at once, without running `onStart` or serving
 *    anything but its status;
 * 3. the upgrade gate compares the versions the code would run with what every other member
 *    last ran (a refusal only once the members it names were heard from in this run, or did not
 *    answer for {@link HEAR_BEFORE_REFUSING_MS}; a wait likewise, for at most
 *    {@link HEAR_BEFORE_WAITING_MS}). Refused: the attempt is published as a
 *    refused start (`refusals.ts`) and the start fails, with nothing applied to the store.
 *    Otherwise the member runs: its app migrations are applied (only when it opens: a waiting
 *    member may still be rolled back), its own row takes its new versions (written: a store
 *    that cannot write it fails the start), then they are announced, and it waits or opens
 *    (`onStart`).
 *
 * @module
 */
import { type Clock, wallNow } from "../../cluster/clock.ts";
import { IncompatibleError } from "../../errors.ts";
import { listMembers } from "../../store/members.ts";
import { applyMigrations } from "../../store/open.ts";
import type { MemberContext } from "../context.ts";
import { startRefusal } from "../disk_refusal.ts";
import { UpgradeGate } from "../gating.ts";
import type { Network } from "../network.ts";
import type { ClusterView } from "../view.ts";
import { readJoinView, removeJoinView } from "../join_view.ts";
import { readIdentity, startNetwork } from "../network_start.ts";
import { publishRefusal, withdrawRefusal } from "../refusals.ts";
import { respellStored } from "../respell.ts";
import { markJoined } from "./join.ts";
import { learnAtRestart } from "./rejoin_learn.ts";
import { learnRemoved } from "./leave.ts";
import { removalQuestion } from "./ask_peers.ts";

/** How long a start waits at most for the extension lists of members that are up, ms. */
export const LISTS_WAIT_MS = 2000;

/** Starts an initialised member; see the module docs. Resolves once it waits or serves. */
export async function openInitialized(ctx: MemberContext): Promise<void> {
  const config = ctx.config!;
  const code = ctx.code();
  const clock = ctx.env.clock;
  let mark = clock.now();
  const cpuMs = ctx.env.cpuMs;
  let cpuMark = cpuMs?.() ?? 0;
  /**
   * Where a start's time went (issue 15: the last upgraded member's wake-up), ms per step: wall
   * time on the member's clock, and this process's CPU time where the environment tells it
   * (`_cpu_ms`: on a loaded machine the wall time is mostly waiting for a core).
   */
  const steps: Record<string, number> = {};
  const step = (name: string) => {
    const now = clock.now();
    steps[`${name}_ms`] = now - mark;
    mark = now;
    if (!cpuMs) return;
    const cpu = cpuMs();
    steps[`${name}_cpu_ms`] = cpu - cpuMark;
    cpuMark = cpu;
  };
  // Read together: each is a wait for the thread pool or the store, on a loaded machine a turn
  // of the event loop or more each (issue 15's wake-up), and none needs another.
  const [stored, kept, held] = await Promise.all([
    listMembers(ctx.store),
    // A join answered before its store held the view it was handed (killed meanwhile): the view
    // is taken in from `join_view.json` as the join did, and written to the store.
    readJoinView(ctx.paths),
    readIdentity(ctx.paths.dir),
  ]);
  step("read");
  const own = stored.find((m) => m.name === config.name);
  const announce = own?.extensions.length
    ? {
      schemaInternal: own.schemaInternal,
      schemaExternal: own.schemaExternal,
      extensions: own.extensions,
    }
    : code;
  let seeds = stored.filter((m) => m.name !== config.name).map((m) => m.address);
  const net = await startNetwork(ctx, config, {
    seeds,
    announce,
    initialState: kept?.state,
    identity: held,
    stored,
  });
  ctx.own(net);
  if (kept) {
    seeds = [...new Set([kept.via, ...seeds, ...net.view.otherAddresses()])];
    ctx.logger.info("Took in the view the join was handed", { via: kept.via, seeds: seeds.length });
    net.persistence.afterWritten(() =>
      void ctx.background.run("Removing the view the join kept", () => removeJoinView(ctx.paths))
    );
  }
  step("network");
  if (net.view.selfRemoved()) return learnRemoved(ctx, "own tombstone in the store");
  const { name, since, identity } = removalQuestion(net);
  const learnt = await learnAtRestart(ctx, net, seeds, name, since, identity);
  steps.push_pull_ms = learnt.pushPullMs;
  steps.removal_ms = learnt.removalMs;
  step("learn");
  if (learnt.removed || net.view.selfRemoved()) {
    return learnRemoved(ctx, "removed while it was down");
  }
  await listsKnown(net, clock);
  step("lists");
  // A join committed but not yet marked complete (a crash in between): complete it now.
  if (net.view.roster().get(config.name)?.joining) markJoined(net);
  const gate = new UpgradeGate({
    code,
    view: net.view,
    clock: ctx.env.clock,
    background: ctx.background,
    logger: ctx.logger.child({ component: "upgrade" }),
    deadGraceMs: ctx.options.upgradeDeadGraceMs,
    policy: ctx.options.upgradePolicy,
    onOpen: (waitedMs) =>
      void ctx.background.run("Opening after the upgrade wait", () => openAfterWait(ctx, waitedMs)),
    // A digest exchange: a member whose table matches answers with its digest alone.
    askBehind: (names) => {
      const roster = net.view.roster();
      net.gossip.sync(names.flatMap((n) => roster.get(n)?.address ?? []));
    },
  });
  await hearBeforeDeciding(ctx, net, gate, seeds);
  step("hear");
  const decision = gate.begin();
  if (decision.decision === "refuse") {
    await refuse(ctx, net, seeds, decision.message);
    if (ctx.machine.is("removed")) return; // removed meanwhile: the reset is what matters
    throw new IncompatibleError(decision.message);
  }
  net.attachGate(gate);
  // Without app migrations there is nothing deferred: the store applied cohort's own at open.
  if (decision.serve && ctx.options.appMigrations) {
    try {
      await applyMigrations(ctx.store, {
        appMigrations: ctx.options.appMigrations,
        logger: ctx.logger,
      });
    } catch (err) {
      await refuse(ctx, net, seeds, `Cannot apply the app's migrations: ${(err as Error).message}`);
      throw startRefusal(err, "the app's migrations", ctx.paths.dir);
    }
  }
  step("migrations");
  // Its tombstone may have arrived meanwhile: then it is removed, and stays so.
  if (!ctx.machine.is("starting")) return;
  await runWith(ctx, net);
  step("write");
  ctx.logger.info("Rejoined the cluster", {
    decision: decision.decision,
    ...steps,
    removal_asked: learnt.asked,
    // The push-pulls answered by now, and the last of them (a question asked instead of waiting
    // for one is a TLS connection more on a loaded machine).
    push_pull_answered: learnt.answeredMs.length,
    ...(learnt.answeredMs.length ? { push_pull_last_ms: learnt.answeredMs.at(-1) } : {}),
  });
  if (!ctx.machine.is("starting")) return;
  if (!decision.serve) {
    ctx.machine.to("waiting", "members behind");
    return;
  }
  ctx.machine.to("online", "every member runs these versions");
  await ctx.hook("onStart", {});
}

/**
 * How long a start that would wait for members behind waits to hear, in this run, from the
 * members it would wait for, ms. What the store remembers of them may be stale: a member that
 * upgraded while this one was down (then this start could open at once), or even ahead (then
 * it must refuse, not wait: a waiting member that learns it is behind stays waiting). Their
 * push-pull answers can come after the exchange timed out on a loaded machine. Not heard by
 * then, they count with their stored versions, and the gate re-decides on every view change.
 */
const HEAR_BEFORE_WAITING_MS = 2000;
/**
 * How long a start that would refuse itself waits to hear, in this run, from the members its
 * refusal names, ms. A refusal is final (the start fails), and the versions the store remembers
 * for a member are those of its run before this member stopped: it may have upgraded or rolled
 * back since, and a push-pull lost or late under load must not make this start refuse itself on
 * them. A member not heard from within it counts with its last known versions, as a down member
 * does.
 */
const HEAR_BEFORE_REFUSING_MS = 10_000;
/**
 * How often, while it waits to hear them, the start asks the members for their state, ms: well
 * within the push-pull answers a member gives one peer (gossip's `ANSWERS_PER_WINDOW`, 8 per
 * 10 s), which asking every second used up, so the answers that mattered were withheld.
 */
const ASK_AGAIN_MS = 2500;

/**
 * Waits while the gate would refuse this start, or have it wait, because of members not heard
 * from since it started (their versions are the store's memory); see
 * {@link HEAR_BEFORE_REFUSING_MS} and {@link HEAR_BEFORE_WAITING_MS}. Re-decides on every view
 * change, so the start goes on as soon as their state arrives.
 */
async function hearBeforeDeciding(
  ctx: MemberContext,
  net: Network,
  gate: UpgradeGate,
  seeds: readonly string[],
): Promise<void> {
  const clock = ctx.env.clock;
  const started = clock.now();
  let askAt = started + ASK_AGAIN_MS;
  let said = false;
  while (true) {
    const d = gate.evaluate();
    if (d.decision === "open") return;
    const refusing = d.decision === "refuse";
    const deadline = started + (refusing ? HEAR_BEFORE_REFUSING_MS : HEAR_BEFORE_WAITING_MS);
    const now = clock.now();
    if (now >= deadline) return;
    const named = refusing ? [...d.ahead, ...d.diverged] : d.behind;
    const unheard = named.filter((m) => !net.view.seenAlive(m.name)).map((m) => m.name);
    if (unheard.length === 0) return;
    if (!said) {
      // Said once: it explains a start that takes seconds longer (a member unreachable while
      // this one restarts), and it is the moment from which their state counts as heard late.
      said = true;
      ctx.logger.info("Waiting to hear from members before deciding", {
        members: unheard,
        would: d.decision,
        ms: deadline - now,
      });
    }
    if (now >= askAt) {
      askAt = now + ASK_AGAIN_MS;
      void net.gossip.join(seeds).catch(() => {});
    }
    await net.nextChange(Math.min(100, deadline - now));
  }
}

/**
 * Waits, for at most {@link LISTS_WAIT_MS}, until the versions of every member that is up are
 * known: a member running a list this one never saw, with no stored row to count it by. It
 * looks again at every view change (`net.nextChange`: the list's arrival is one), so the start
 * goes on in the turn the list arrives, not at a poll's next tick.
 */
export async function listsKnown(
  net: {
    view: Pick<ClusterView, "liveness" | "versionOf"> & { roster(): ReadonlyMap<string, unknown> };
    nextChange(ms: number): Promise<void>;
  },
  clock: Clock,
): Promise<void> {
  const deadline = clock.now() + LISTS_WAIT_MS;
  const unknown = () =>
    [...net.view.roster().keys()].some((n) =>
      net.view.liveness(n).up && net.view.versionOf(n) === undefined
    );
  while (unknown()) {
    const left = deadline - clock.now();
    if (left <= 0) return;
    await net.nextChange(left);
  }
}

/**
 * This member runs its code's versions from now on: the addresses an earlier release stored are
 * rewritten in their one spelling (`respell.ts`), its own row takes the versions (written), then
 * they are announced, and a refused start it had published is withdrawn. A store that cannot take
 * the row (a nearly full or failing disk that let the start write its lock) fails the start,
 * naming its state directory, before anything is announced: it said "ready" with the row
 * unwritten, and a restart then announced the versions it ran before.
 */
async function runWith(ctx: MemberContext, net: Network): Promise<void> {
  const code = ctx.code();
  const name = net.config.name;
  net.view.setLocal(code);
  // Only a start that runs rewrites what an earlier release stored: a refused one changes nothing.
  await respellStored(ctx, net);
  net.persistence.touch();
  await net.persistence.written().catch((err: unknown) => {
    throw startRefusal(err, "its own row (the versions it runs)", ctx.paths.dir);
  });
  net.gossip.updateMeta({
    schemaInternal: code.schemaInternal,
    schemaExternal: code.schemaExternal,
    extensions: code.extensions,
  });
  withdrawRefusal(net.gossip, name);
}

/**
 * Publishes this refused start (what it tried, when, why), hands it to the others at once, and
 * moves to `refused`. Nothing else changed: the versions announced are still the last run ones.
 */
async function refuse(
  ctx: MemberContext,
  net: Network,
  seeds: readonly string[],
  reason: string,
): Promise<void> {
  const now = wallNow(ctx.env.clock); // the refusal's date, read by every member
  try {
    publishRefusal(net.gossip, net.config.name, ctx.code(), reason, now);
    if (seeds.length) await net.gossip.join(seeds);
  } catch (err) {
    ctx.logger.warn("Could not publish the refused start", { err });
  }
  if (ctx.machine.is("starting")) ctx.machine.to("refused", reason);
}

/** The gate opened after a wait: apply the app's migrations, serve, run `onStart`. */
async function openAfterWait(ctx: MemberContext, waitedMs: number): Promise<void> {
  if (!ctx.machine.is("waiting")) return;
  // Every waiting member opens on the same news: a store round trip here is on the path (issue
  // 15's wake-up). Without app migrations nothing was deferred (see openInitialized).
  if (ctx.options.appMigrations) {
    try {
      await applyMigrations(ctx.store, {
        appMigrations: ctx.options.appMigrations,
        logger: ctx.logger,
      });
    } catch (err) {
      ctx.logger.error("Cannot open: the app's migrations failed", { err });
      if (!ctx.machine.is("waiting")) return;
      ctx.machine.to("refused", "app migrations failed");
      await ctx.stop();
      return;
    }
  } else {
    // This runs inside the dispatch of the view change that opened the gate: the rest waits
    // until that change reached every consumer, as it did behind the migrations' first query.
    await Promise.resolve();
  }
  if (!ctx.machine.is("waiting")) return; // removed or stopped meanwhile
  ctx.machine.to("online", "every member upgraded");
  ctx.events.emit("upgrade-opened", { waitedMs });
  ctx.onViewChange({ kind: "member", event: "member-update", name: "" });
  try {
    await ctx.hook("onStart", {});
  } catch (err) {
    ctx.logger.error("Hook failed: stopping", { hook: "onStart", err });
    await ctx.stop();
  }
}
