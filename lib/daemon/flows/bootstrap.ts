/**
 * Bootstrapping a new cluster. In this order, each step durable before the next:
 *
 * 1. this member's key pair and the cluster's (files);
 * 2. the network, this member's roster record, the roster written to the store;
 * 3. the `postBootstrap` hook;
 * 4. `daemon.json`: the commit point. Before it, a restart finds an uninitialised member and
 *    removes the leftovers; after it, a bootstrapped member that lists itself.
 *
 * A failure before the commit is undone by one path: network stopped, leftovers removed,
 * uninitialised.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { splitHostPort } from "../../cluster/address.ts";
import { wallNow } from "../../cluster/clock.ts";
import { MEMBER_RECORD, type RosterEntry } from "../../cluster/roster.ts";
import { files } from "../../files.ts";
import { syncDirAsync } from "../../write_durably.ts";
import { loadOrCreateKeyPair } from "../../net/certificates.ts";
import type { MemberContext } from "../context.ts";
import { startNetwork } from "../network_start.ts";
import type { ControlRequest } from "../service.ts";
import { writeDaemonConfig } from "../join_config.ts";
import { clearLeftovers } from "./wipe.ts";

/** The key pairs a bootstrap writes (or keeps), in the state directory. */
const KEY_FILES = ["server.crt", "server.key", "cluster.crt", "cluster.key"] as const;

/** Bootstraps a cluster of one; see the module docs. */
export async function bootstrapCluster(ctx: MemberContext, request: ControlRequest): Promise<void> {
  const config = { name: request.name, address: request.address };
  const initConfig = request.config ?? {};
  try {
    await ctx.hook("preInit", { bootstrap: true, config: initConfig });
    const spec = { name: config.name, addresses: [splitHostPort(config.address)!.host] };
    const server = await loadOrCreateKeyPair(
      ctx.paths.dir,
      "server",
      spec,
      ctx.logger,
      ctx.issuer(),
    );
    const cluster = await loadOrCreateKeyPair(
      ctx.paths.dir,
      "cluster",
      spec,
      ctx.logger,
      ctx.issuer(),
    );
    const net = await startNetwork(ctx, config, {
      seeds: [],
      announce: ctx.code(),
      identity: {
        cert: server.cert,
        key: server.key,
        clusterCert: cluster.cert,
        clusterKey: cluster.key,
      },
    });
    ctx.own(net);
    net.gossip.setRecord(
      MEMBER_RECORD,
      config.name,
      {
        address: config.address,
        certificate: server.cert,
        fingerprint: server.fingerprint,
        joinedAt: wallNow(ctx.env.clock), // a date every member compares
      } satisfies RosterEntry as unknown as Record<string, unknown>,
    );
    // In the store (a failed write refuses the bootstrap, undone below), then on disk before
    // daemon.json says the member is initialised: the store's commits and the
    // key pairs were only written, and a file system that failed seconds after a bootstrap
    // (an operating-system crash alike) left empty certificates the restart refused.
    await net.persistence.written();
    await Promise.all([
      net.persistence.sync(),
      ...KEY_FILES.map((file) => files().sync(join(ctx.paths.dir, file))),
      // The state directory itself: one the daemon made at its first start (or an operator just
      // before) is an entry in its parent's page cache only, and an operating-system crash after
      // the bootstrap was answered could take it whole (tests/faults/crash_order).
      syncDirAsync(dirname(ctx.paths.dir)),
    ]);
    await ctx.hook("postBootstrap", { config: initConfig });
    await writeDaemonConfig(ctx.paths, config);
    ctx.setConfig(config);
  } catch (err) {
    await ctx.dropNetwork(false);
    ctx.setConfig(undefined);
    await clearLeftovers(ctx).catch((e) =>
      ctx.logger.warn("Could not clear a failed bootstrap", { err: e })
    );
    throw err;
  }
}
