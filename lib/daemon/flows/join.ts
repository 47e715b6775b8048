/**
 * The joining side of a join. In this order, each step durable before the next:
 *
 * 1. this member's key pair, then `transition.json` (`join`, with the token's addresses): from
 *    here a restart withdraws the join, whatever the admitting member did;
 * 2. the join request; admitted, the mark names the admitting member first;
 * 3. the cluster's certificate and key, the network (with the admitting member's view), the
 *    `preJoin` hook, the roster written to the store;
 * 4. `daemon.json`: the commit point; then the mark goes;
 * 5. the roster record's `joining` flag is cleared (every member then runs `onNewMember`);
 *    a restart between 4 and 5 clears it when it opens. The join is complete: one push-pull
 *    with the admitting member catches up, waited for at most {@link JOIN_CATCHUP_WAIT_MS}.
 *
 * A failure before the commit is undone by one path: network stopped, the admitting member asked
 * to take this member out again (as MicroCluster does), leftovers removed, uninitialised.
 *
 * Every wait for another member comes out of one deadline, {@link JOIN_DEADLINE_MS} from the
 * start: the join requests stop {@link JOIN_UNDO_RESERVE_MS} before it, the requests to be taken
 * out again at it (then they go on in the background), so the join's answer, whatever the
 * members do, comes within the deadline and the local steps.
 *
 * @module
 */
import { join as joinPath } from "node:path";
import { splitHostPort } from "../../cluster/address.ts";
import type { JsonValue, TimerHandle } from "../../cluster/membership.ts";
import { MEMBER_RECORD } from "../../cluster/roster.ts";
import { files } from "../../files.ts";
import { decodeToken } from "../../cluster/token.ts";
import { fingerprint, loadOrCreateKeyPair } from "../../net/certificates.ts";
import type { MemberContext } from "../context.ts";
import { JOIN_DEADLINE_MS, JOIN_UNDO_RESERVE_MS, JoinRefusedError, requestJoin } from "../join.ts";
import type { Network } from "../network.ts";
import { startNetwork } from "../network_start.ts";
import type { ControlRequest } from "../service.ts";
import { writeDaemonConfig } from "../state_dir.ts";
import {
  clearTransition,
  clearTransitionAsync,
  readTransition,
  syncDir,
  syncDirAsync,
  writeTransition,
} from "../transition.ts";
import { JOIN_EXPIRY_MS } from "./accept_join.ts";
import { RESUME_ASK_MS, withdraw, withdrawMarked } from "./ask_peers.ts";
import { clearLeftovers } from "./wipe.ts";

/**
 * How long a committed join waits for its catch-up push-pull with the admitting member before
 * returning (the exchange goes on in the background), ms.
 */
export const JOIN_CATCHUP_WAIT_MS = 500;

/** Our join is complete: clearing the roster record's mark has every member run onNewMember. */
export function markJoined(net: Network): void {
  const name = net.config.name;
  const own = net.view.roster().get(name);
  if (!own?.joining) return;
  const { joining: _, ...joined } = own;
  net.gossip.setRecord(MEMBER_RECORD, name, joined as unknown as JsonValue);
}

/** Joins the cluster of `request.join_token`; see the module docs. */
export async function joinCluster(ctx: MemberContext, request: ControlRequest): Promise<void> {
  const config = { name: request.name, address: request.address };
  const initConfig = request.config ?? {};
  const token = decodeToken(request.join_token!);
  let identity: { cert: string; key: string; fingerprint: string } | undefined;
  let peers = [...token.join_addresses];
  const clock = ctx.env.clock;
  const deadline = clock.now() + JOIN_DEADLINE_MS;
  try {
    await ctx.hook("preInit", { bootstrap: false, config: initConfig });
    const host = splitHostPort(config.address)!.host;
    const server = await loadOrCreateKeyPair(
      ctx.paths.dir,
      "server",
      { name: config.name, addresses: [host] },
      ctx.logger,
      ctx.issuer(),
    );
    identity = { cert: server.cert, key: server.key, fingerprint: token.fingerprint };
    const mark = { step: "join" as const, name: config.name, fingerprint: token.fingerprint };
    writeTransition(ctx.paths, { ...mark, peers, at: ctx.env.clock.now() });
    const code = ctx.code();
    const { response, via } = await requestJoin(
      ctx.env.peers,
      token,
      {
        name: config.name,
        address: config.address,
        certificate: server.cert,
        schema_internal_version: code.schemaInternal,
        schema_external_version: code.schemaExternal,
        extensions: [...code.extensions],
        app_version: ctx.appVersion,
      },
      server,
      ctx.logger,
      { until: deadline - JOIN_UNDO_RESERVE_MS, now: () => clock.now() },
    );
    peers = [via, ...peers.filter((p) => p !== via)];
    writeTransition(ctx.paths, { ...mark, peers, at: ctx.env.clock.now() });
    await Promise.all([
      files().writeFile(joinPath(ctx.paths.dir, "cluster.crt"), response.cluster_cert, {
        mode: 0o644,
      }),
      files().writeFile(joinPath(ctx.paths.dir, "cluster.key"), response.cluster_key, {
        mode: 0o600,
      }),
    ]);
    syncDir(ctx.paths.dir);
    const others = response.cluster_members.filter((m) => m.name !== config.name);
    // With the accepting member's view in hand, and our arrival announced by it, the one
    // push-pull below only catches up with what changed since (a member admitted beside us
    // whose news we could not hear before we listened); without them, push-pull with all.
    const seeds = response.gossip_state !== undefined
      ? []
      : others.map((m) => m.address).filter((a) => a !== via);
    const net = await startNetwork(ctx, config, {
      seeds,
      announce: code,
      // The admitting member's view holds its roster, which the trust reads before anyone can
      // reach us; parsing every member's certificate for the same fingerprints cost the joiner
      // ~0.7 ms each (one X.509 parse), on the loop, while the admitting member waited for it.
      provisional: response.gossip_state !== undefined
        ? []
        : others.map((m) => fingerprint(m.certificate)),
      initialState: response.gossip_state,
      identity: {
        cert: server.cert,
        key: server.key,
        clusterCert: response.cluster_cert,
        clusterKey: response.cluster_key,
      },
    });
    ctx.own(net);
    // From here members hear from us: nothing below may hold the event loop (fsyncs run on the
    // thread pool), or we miss their probes and are suspected while we finish the join.
    await ctx.hook("preJoin", { config: initConfig });
    await net.persistence.flush();
    writeDaemonConfig(ctx.paths, config);
    await syncDirAsync(ctx.paths.dir);
    ctx.setConfig(config);
    await clearTransitionAsync(ctx.paths);
    markJoined(net);
    // Committed. One push-pull with the admitting member catches up with what changed since its
    // view was exported, and hands it our completed record, so the member the operator asks
    // next knows the join is done. It is waited for at most JOIN_CATCHUP_WAIT_MS, then goes on
    // in the background: the member that admits every join is the busiest while a cluster
    // forms, and waiting for its answer held `init --token` for seconds at N = 50.
    const catchUp = ctx.background.run("Catching up after the join", async () => {
      await net.gossip.join([via]);
      markJoined(net); // in case our record only came with this exchange
    });
    let timer: TimerHandle | undefined;
    await Promise.race([
      catchUp,
      new Promise<void>((r) => (timer = ctx.env.clock.setTimeout(r, JOIN_CATCHUP_WAIT_MS))),
    ]);
    if (timer !== undefined) ctx.env.clock.clearTimeout(timer);
  } catch (err) {
    // The member that refused knows the most: it is asked first.
    if (err instanceof JoinRefusedError && err.by) {
      peers = [err.by, ...peers.filter((p) => p !== err.by)];
    }
    await undoJoin(ctx, config.name, identity, peers, err, deadline);
    throw err;
  }
}

/** The one undo path of a join that did not commit. */
async function undoJoin(
  ctx: MemberContext,
  name: string,
  identity: { cert: string; key: string; fingerprint: string } | undefined,
  peers: readonly string[],
  err: unknown,
  deadline: number,
): Promise<void> {
  await ctx.dropNetwork(false);
  ctx.setConfig(undefined);
  // A refusal means we were not admitted, unless a member asked before did not answer;
  // anything else after the mark (a timeout, a failure after the admission, a crash of the
  // admitting member before its answer) may have left us in the roster: ask to be taken out.
  const notAdmitted = err instanceof JoinRefusedError && err.skipped.length === 0;
  if (
    identity && readTransition(ctx.paths) && !notAdmitted &&
    !(await withdraw(ctx, peers, name, identity, { unheard: true, deadline }))
  ) keepWithdrawing(ctx, peers, name, identity);
  await clearLeftovers(ctx).catch((e) =>
    ctx.logger.warn("Could not clear a failed join", { err: e })
  );
  clearTransition(ctx.paths);
}

/** How often a join cut short asks again to be taken out, ms. */
const WITHDRAW_AGAIN_MS = 3000;

/**
 * A join cut short that no member confirmed withdrawn (the admitting member is down, the others
 * never heard of the admission): asks again in the background until one does, so that the
 * admission the admitting member spreads once it restarts is undone at once rather than at its
 * expiry. Gives up after {@link JOIN_EXPIRY_MS} (the admission expires anyway) or as soon as
 * this member starts another bootstrap or join.
 */
function keepWithdrawing(
  ctx: MemberContext,
  peers: readonly string[],
  name: string,
  identity: { cert: string; key: string; fingerprint: string },
): void {
  const until = ctx.env.clock.now() + JOIN_EXPIRY_MS;
  ctx.logger.warn("No member confirmed this join withdrawn: asking again in the background", {
    name,
  });
  const cancel = ctx.background.every(
    "Withdrawing a join cut short",
    WITHDRAW_AGAIN_MS,
    async () => {
      if (ctx.config || readTransition(ctx.paths) || ctx.env.clock.now() > until) return cancel();
      if (
        await withdraw(ctx, peers, name, identity, {
          timeoutMs: RESUME_ASK_MS,
          unheard: true,
          quiet: true,
        })
      ) {
        ctx.logger.info("A join cut short is withdrawn", { name });
        cancel();
      }
    },
  );
}

/**
 * At start, a join recorded but not committed (a crash cut it short): asks the members it knew
 * to take this member out again, then removes what the join left. The member is uninitialised.
 */
export async function resumeJoinUndo(ctx: MemberContext): Promise<void> {
  const t = readTransition(ctx.paths)!;
  ctx.logger.warn("Undoing a join cut short", { name: t.name });
  await withdrawMarked(ctx, t);
  await clearLeftovers(ctx);
  clearTransition(ctx.paths);
}
