/**
 * The joining side of a join. In this order, each step durable before the next:
 *
 * 1. this member's key pair, then `transition.json` (`join`, with the token's addresses): from
 *    here a restart withdraws the join, whatever the admitting member did;
 * 2. the join request, while the key pair is synced;
 * 3. admitted: the cluster's certificate and key, the admitting member's view
 *    (`join_view.json`) and the commit's `daemon.json` (prepared aside, holding the view's seed)
 *    are written, then the certificate and key, that `daemon.json` and the directory synced (at
 *    once, on the thread pool) while the network starts with that view, whose store write
 *    starts behind it; the `preJoin` hook;
 * 4. `daemon.json` put in place (one rename, the directory synced): the commit point; then the
 *    mark goes;
 * 5. the roster record's `joining` flag is cleared (every member then runs `onNewMember`);
 *    a restart between 4 and 5 clears it when it opens. The join is complete and answered: one
 *    push-pull with the admitting member catches up in the background, and `join_view.json`
 *    goes once the store holds the view (a restart before that takes the view from it).
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
import { writeFileSync } from "node:fs";
import { dirname, join as joinPath } from "node:path";
import { splitHostPort } from "../../cluster/address.ts";
import { wallNow } from "../../cluster/clock.ts";
import { type JsonValue } from "../../json_value.ts";
import { MEMBER_RECORD } from "../../cluster/roster.ts";
import { decodeToken } from "../../cluster/token.ts";
import { ConflictError, UnavailableError } from "../../errors.ts";
import { files } from "../../files.ts";
import { fingerprint, loadOrCreateKeyPair } from "../../net/certificates.ts";
import type { MemberContext } from "../context.ts";
import {
  JOIN_DEADLINE_MS,
  JOIN_UNDO_RESERVE_MS,
  JoinRefusedError,
  MIN_ATTEMPT_MS,
  requestJoin,
} from "../join.ts";
import type { Network } from "../network.ts";
import { joinSeed, readJoinView, removeJoinView, writeJoinView } from "../join_view.ts";
import { startNetwork } from "../network_start.ts";
import type { ControlRequest } from "../service.ts";
import {
  commitDaemonConfig,
  discardDaemonConfig,
  prepareDaemonConfig,
  syncPreparedDaemonConfig,
} from "../join_config.ts";
import { syncDirAsync } from "../../write_durably.ts";
import {
  clearTransition,
  readTransition,
  removeTransition,
  writeTransition,
} from "../transition.ts";
import { JOIN_EXPIRY_MS } from "./accept_join.ts";
import { RESUME_ASK_MS, withdraw, withdrawMarked } from "./ask_peers.ts";
import { clearLeftovers } from "./wipe.ts";

/** Our join is complete: clearing the roster record's mark has every member run onNewMember. */
export function markJoined(net: Network): void {
  const name = net.config.name;
  const own = net.view.roster().get(name);
  if (!own?.joining) return;
  const { joining: _, ...joined } = own;
  net.gossip.setRecord(MEMBER_RECORD, name, joined as unknown as JsonValue);
}

/**
 * How long each step of a committed join took, ms (on the member's clock): the join request
 * (the admitting member's claim round and admission included); the network's start (the
 * admitting member's view taken in, while the cluster's certificate, the view and `daemon.json`
 * are written beside it); the `preJoin` hook; what was left of those writes (and the directory's
 * sync) once the hook passed; the commit (`daemon.json` in place, the directory synced, the mark
 * cleared).
 */
export interface JoinSteps {
  request_ms: number;
  network_ms: number;
  pre_join_ms: number;
  files_ms: number;
  commit_ms: number;
}

/**
 * Joins the cluster of `request.join_token`; see the module docs. Resolves, once committed, to
 * how long its steps took.
 */
export async function joinCluster(
  ctx: MemberContext,
  request: ControlRequest,
): Promise<JoinSteps> {
  const config = { name: request.name, address: request.address };
  const initConfig = request.config ?? {};
  const token = decodeToken(request.join_token!);
  let identity: { cert: string; key: string; fingerprint: string } | undefined;
  let written: Promise<unknown> | undefined;
  let peers = [...token.join_addresses];
  /** Whether the join request may have left: only then can there be an admission to undo. */
  let requested = false;
  const clock = ctx.env.clock;
  const deadline = clock.now() + JOIN_DEADLINE_MS;
  let lapStart = clock.now();
  const lap = () => {
    const [was, now] = [lapStart, clock.now()];
    lapStart = now;
    return now - was;
  };
  try {
    const { host, port } = splitHostPort(config.address)!;
    // Before the token is spent (and before the app's hook): a port in use, or an address not
    // this machine's, refuses the join with the token still good for another try.
    await ctx.env.canListen?.(host, port);
    await ctx.hook("preInit", { bootstrap: false, config: initConfig });
    const server = await loadOrCreateKeyPair(
      ctx.paths.dir,
      "server",
      { name: config.name, addresses: [host] },
      ctx.logger,
      ctx.issuer(),
    );
    identity = { cert: server.cert, key: server.key, fingerprint: token.fingerprint };
    // This member's key pair (just written, or kept from before) is synced while the request
    // waits for the admitting member, not after the admission: a restart after the commit needs
    // it, and an operating-system crash may otherwise leave it empty. Awaited before the commit.
    const dir = ctx.paths.dir;
    const paired = syncFiles(dir, ["server.key", "server.crt"]);
    paired.catch(() => {}); // thrown where it is awaited
    written = paired;
    const mark = { step: "join" as const, name: config.name, fingerprint: token.fingerprint };
    // Durable before the request (from here a restart withdraws the join), synced off the loop:
    // a synchronous fsync froze the joiner for as long as the disk held it (40 s once under a
    // loaded disk), its API, its app and the join's own deadline with it.
    const marking = clock.now();
    await writeTransition(ctx.paths, { ...mark, peers, at: wallNow(clock) });
    if (deadline - JOIN_UNDO_RESERVE_MS - clock.now() < MIN_ATTEMPT_MS) {
      throw new UnavailableError(
        `Join not requested: its mark (${joinPath(dir, "transition.json")}) took ` +
          `${Math.round((clock.now() - marking) / 1000)} s to reach the disk, past the join's ` +
          `deadline (${JOIN_DEADLINE_MS / 1000} s); is the disk stalled?`,
      );
    }
    requested = true;
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
    const request_ms = lap();
    peers = [via, ...peers.filter((p) => p !== via)];
    // The files the commit needs (the cluster's certificate and key, the view the store takes in
    // after the answer, `daemon.json` itself with the view's seed) are written at once: into the
    // page cache, under a millisecond for ~100 KB, before we listen (no member can probe us
    // yet). Only their syncs wait for the disk, on the thread pool, while the network starts:
    // `daemon.json` and the directory, at once. Under load every step off the loop waits for a
    // turn of it, and once we listen every member's first TLS connection takes those turns: a
    // chain of steps (the files written on the thread pool, the mark rewritten naming the
    // admitting member first and synced, the directory synced twice) was most of the commit's
    // time. The mark is not rewritten: a restart that undoes the join asks the admitting member
    // first from `join_view.json` (see `resumeJoinUndo`). Awaited before the commit, and before
    // any undo, which removes them.
    const handed = response.gossip_state;
    const view = handed === undefined ? undefined : { via, state: handed };
    if (view) writeJoinView(ctx.paths, view);
    writeFileSync(joinPath(dir, "cluster.crt"), response.cluster_cert, { mode: 0o644 });
    writeFileSync(joinPath(dir, "cluster.key"), response.cluster_key, { mode: 0o600 });
    prepareDaemonConfig(ctx.paths, config, view && joinSeed(view, config.name));
    written = Promise.all([
      paired,
      syncFiles(dir, ["cluster.crt", "cluster.key"]),
      syncPreparedDaemonConfig(ctx.paths),
      syncDirAsync(dir),
      // The state directory itself: one the daemon made at its first start (or an operator just
      // before) is an entry in its parent's page cache only, and an operating-system crash after
      // the join was answered could take it whole (tests/faults/crash_order).
      syncDirAsync(dirname(dir)),
    ]);
    written.catch(() => {}); // thrown where it is awaited
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
    const network_ms = lap();
    // From here members hear from us: nothing below may hold the event loop (fsyncs run on the
    // thread pool), or we miss their probes and are suspected while we finish the join.
    await ctx.hook("preJoin", { config: initConfig });
    const pre_join_ms = lap();
    await written;
    const files_ms = lap();
    // Removed while the join was under way (`cluster remove --force`, or the member that
    // admitted it was removed: `remove.ts`): committed now, it would answer "joined" and then
    // reset as soon as it heard its tombstone.
    if (net.gossip.record(MEMBER_RECORD, config.name)?.value === null) {
      throw new ConflictError(
        `Join undone: member "${config.name}" was removed while it joined ` +
          "(removed with --force, or with the member that admitted it); ask for a new token",
      );
    }
    // The roster must be durable before the commit. Handed the admitting member's view, it is:
    // in `join_view.json`, which a restart takes in while the store does not hold it yet (its
    // batch began with the network's start; what gossip brought since is written by the next,
    // as on every member). Without it, the push-pull at start brought it: written now.
    if (handed === undefined) await net.persistence.written();
    commitDaemonConfig(ctx.paths);
    await syncDirAsync(ctx.paths.dir);
    ctx.setConfig(config);
    removeTransition(ctx.paths);
    if (handed !== undefined) {
      net.persistence.afterWritten(() =>
        void ctx.background.run("Removing the view the join kept", () => removeJoinView(ctx.paths))
      );
    }
    markJoined(net);
    const commit_ms = lap();
    // Committed, and listed in our own view as a member that completed its join: the answer
    // goes now. One push-pull with the admitting member catches up with what changed since its
    // view was exported (a member admitted beside us), in the background: the member that
    // admits every join is the busiest while a cluster forms, and waiting for its answer (even
    // 500 ms at most) was half of what `init --token` took after the admission at N = 50. Our
    // completed record reaches the others by gossip meanwhile, as every record does. It starts
    // after the answer went: building, encoding and sending our full state took up to 155 ms of
    // the loop under load, before the answer when it started here.
    ctx.background.after("Catching up after the join", 0, async () => {
      await net.gossip.join([via]);
      markJoined(net); // in case our record only came with this exchange
    });
    return { request_ms, network_ms, pre_join_ms, files_ms, commit_ms };
  } catch (err) {
    await written?.catch(() => {}); // settled before the undo removes what it wrote
    discardDaemonConfig(ctx.paths);
    // The member that refused knows the most: it is asked first.
    if (err instanceof JoinRefusedError && err.by) {
      peers = [err.by, ...peers.filter((p) => p !== err.by)];
    }
    await undoJoin(ctx, config.name, requested ? identity : undefined, peers, err, deadline);
    throw err;
  }
}

/** Syncs `files` of `dir` (fsync), at once, off the event loop. */
async function syncFiles(dir: string, names: readonly string[]): Promise<void> {
  await Promise.all(names.map((name) => files().sync(joinPath(dir, name))));
}

/**
 * The one undo path of a join that did not commit. `identity` is this member's key pair, to ask
 * the others to take it out again with, or `undefined` when the join request never left.
 */
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
  await clearTransition(ctx.paths);
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
  // Admitted, the join kept the admitting member's view, naming it: that member, which knows of
  // the admission for sure, is asked first (the mark lists the token's members).
  const via = (await readJoinView(ctx.paths).catch(() => undefined))?.via;
  const peers = via === undefined ? t.peers : [via, ...t.peers.filter((p) => p !== via)];
  await withdrawMarked(ctx, { ...t, peers });
  discardDaemonConfig(ctx.paths);
  await clearLeftovers(ctx);
  await clearTransition(ctx.paths);
}
