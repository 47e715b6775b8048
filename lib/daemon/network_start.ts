/**
 * Starting a member's {@link Network}: listener, gossip member (announcing the versions it is
 * given), view, settled roles and persistence, in that order, with the trust rule that bridges a
 * joiner's first moments.
 *
 * @module
 */
import { join } from "node:path";
import { splitHostPort } from "../cluster/address.ts";
import type { MemberVersion } from "../cluster/compat.ts";
import { FormerCertificates } from "../cluster/former_certificates.ts";
import { wallNow } from "../cluster/clock.ts";
import { type JsonValue } from "../json_value.ts";
import { InvalidInputError } from "../errors.ts";
import { files } from "../files.ts";
import type { Role } from "../cluster/roles.ts";
import { fingerprint, parsePemPair } from "../net/certificates.ts";
import { listMembers, type Member } from "../store/members.ts";
import { loadFormerCertificates } from "../store/former_certificates.ts";
import { loadRecords } from "../store/records.ts";
import { type GossipHandle, startingMeta } from "./gossip_port.ts";
import { type Identity, Network, type NetworkHost } from "./network.ts";
import { keptConnections } from "./peers.ts";
import { PERSISTED_KINDS, ViewPersistence } from "./persistence.ts";
import { ROLE_SETTLE_MS, RoleTracker } from "./roles.ts";
import type { DaemonConfig } from "./state_dir.ts";
import { ClusterView } from "./view.ts";

/** How {@link startNetwork} starts. */
export interface NetworkStart {
  /** Addresses to push-pull with at start (a restart: the other members'). */
  seeds: readonly string[];
  /** The versions to announce (what the others count this member with). */
  announce: MemberVersion;
  /**
   * Fingerprints trusted until the replicated roster lists this member: a joiner's member list,
   * bridging the moment before the roster reached it.
   */
  provisional?: readonly string[];
  /** The admitting member's exported view, for a joiner (see `GossipSetup.initialState`). */
  initialState?: JsonValue;
  /** Certificates in hand (bootstrap, join); otherwise read from the state directory. */
  identity?: Identity;
  /** The member rows already read from the store (a restart reads them first); otherwise read. */
  stored?: readonly Member[];
}

/**
 * This member's and the cluster's certificates and keys, from the state directory, each key
 * checked against its certificate.
 *
 * @throws {InvalidInputError} naming the file, when a certificate or key does not parse or a key
 *   does not fit its certificate (a damaged file: the member cannot serve with it)
 */
export async function readIdentity(dir: string): Promise<Identity> {
  const read = (file: string) => files().readFile(join(dir, file));
  const [cert, key, clusterCert, clusterKey] = await Promise.all(
    ["server.crt", "server.key", "cluster.crt", "cluster.key"].map(read),
  );
  checkPair(dir, "server", cert, key);
  checkPair(dir, "cluster", clusterCert, clusterKey);
  return { cert, key, clusterCert, clusterKey };
}

/**
 * Throws when `<base>.crt` and `<base>.key` of `dir` are not a certificate and its key. An empty
 * `cluster.key` let a member start and dial out while no member could complete a handshake
 * with its listener (it looked ONLINE and could not be reached); the others failed with the
 * runtime's words ("DECODER routines::unsupported"), naming no file.
 */
function checkPair(dir: string, base: "server" | "cluster", cert: string, key: string): void {
  const damaged = (file: string, what: string, cause?: unknown) =>
    new InvalidInputError(
      `Cannot read "${join(dir, file)}": ${what}. The file is damaged (empty after an ` +
        `operating-system crash, or changed by hand): restore it, or remove this member ` +
        `(\`cohort cluster remove\` on another member) and join it again`,
      { cause },
    );
  const { matches } = parsePemPair(
    { cert, key },
    (file, cause) =>
      file === "crt"
        ? damaged(`${base}.crt`, "it holds no PEM certificate", cause)
        : damaged(`${base}.key`, "it holds no PEM private key", cause),
  );
  if (!matches) throw damaged(`${base}.key`, `it is not the key of ${base}.crt`);
}

/**
 * Starts the network of `config`: listener, gossip (announcing `start.announce`), view, roles,
 * persistence. The caller owns the result (and closes it on failure of its own next steps).
 */
export async function startNetwork(
  ctx: NetworkHost,
  config: DaemonConfig,
  start: NetworkStart,
): Promise<Network> {
  const hostPort = splitHostPort(config.address)!;
  const identity = start.identity ?? await readIdentity(ctx.paths.dir);
  const own = fingerprint(identity.cert);
  const provisional = new Set([own, ...(start.provisional ?? [])]);
  const [stored, records, formerRows] = await Promise.all([
    start.stored ?? listMembers(ctx.store),
    loadRecords(ctx.store, wallNow(ctx.env.clock)), // records expire at dates
    loadFormerCertificates(ctx.store),
  ]);
  // What this member saw leave a name, before the engine takes a record: its trust reads it.
  const former = new FormerCertificates(formerRows);
  // Set once built: the closures below are only called after that.
  const ref: { network?: Network } = {};
  // Provisional trust (a joiner's member list) only bridges the moment before the replicated
  // roster reached us; once it lists this member it decides alone, so removals take effect.
  const isTrusted = (fp: string) =>
    !!ref.network && (ref.network.view.isTrusted(fp) ||
      (provisional.has(fp) && !ref.network.view.roster().has(config.name)));
  const listener = await ctx.env.listen({
    host: hostPort.host,
    port: hostPort.port,
    address: config.address,
    cert: identity.clusterCert,
    key: identity.clusterKey,
    handler: ctx.handler,
    logger: ctx.logger.child({ component: "https" }),
    // Members on one host or behind one NAT share an address: each is bounded on its own.
    isMember: isTrusted,
  });
  const storedRoles = new Map(stored.map((m) => [m.name, m.role as Role]));
  let gossip: GossipHandle;
  try {
    gossip = ctx.options.gossip({
      name: config.name,
      address: config.address,
      meta: {
        ...startingMeta({
          address: config.address,
          fingerprint: own,
          schemaInternal: start.announce.schemaInternal,
          schemaExternal: start.announce.schemaExternal,
          appVersion: ctx.appVersion,
          extensions: start.announce.extensions,
        }),
        // A restart announces the role the store remembered, not PENDING: nobody sees a change.
        role: storedRoles.get(config.name) ?? "PENDING",
      },
      server: listener.server,
      cert: identity.cert,
      key: identity.key,
      clusterCert: identity.clusterCert,
      isTrusted,
      seeds: start.seeds,
      records: records.filter((r) => PERSISTED_KINDS.has(r.kind)),
      former,
      initialState: start.initialState,
      preset: ctx.options.gossipPreset ?? "lan",
      logger: ctx.logger.child({ component: "gossip" }),
      onCertificateRefused: (address) => ctx.onCertificateRefused(address),
    });
  } catch (err) {
    await listener.close().catch(() => {});
    throw err;
  }
  const connections = keptConnections(ctx.env.peers);
  const view = new ClusterView({
    name: config.name,
    gossip,
    stored,
    local: start.announce,
    fingerprint: own,
    clock: ctx.env.clock,
    onChanges: (changes) => ref.network?.dispatch(changes),
    onTrustShrunk: () => {
      gossip.refreshTrust();
      // A member that left the roster is not asked again: its kept connections end.
      connections.retain(ref.network?.view.otherAddresses() ?? []);
    },
  });
  const roles = new RoleTracker({
    view,
    stored: storedRoles,
    settleMs: ROLE_SETTLE_MS[ctx.options.gossipPreset ?? "lan"],
    background: ctx.background,
    logger: ctx.logger.child({ component: "cluster" }),
    onOwnRoleChange: (role, previous) => {
      gossip.updateMeta({ role });
      ctx.events.emit("role-changed", { role, previous });
      ctx.background.run("Hook onHeartbeat", () => ctx.hook("onHeartbeat", { role, previous }));
    },
  });
  const persistence = new ViewPersistence({
    store: ctx.store,
    view,
    clock: ctx.env.clock,
    entries: () => ref.network!.entries(true),
    stored,
    logger: ctx.logger.child({ component: "cluster" }),
  });
  const network = new Network(ctx, {
    connections,
    config,
    identity,
    listener,
    gossip,
    former,
    view,
    roles,
    persistence,
  });
  ref.network = network;
  view.start();
  roles.update();
  if (start.initialState !== undefined) {
    // A joiner takes the admitting member's view in before its gossip starts, in one batch: the
    // roster is built, and roles re-decided, once for the whole view. Its store takes the view
    // in behind (the roster's change starts the batch at once, a bounded part per turn); until
    // then the view is kept in `join_view.json` (see `join_view.ts`), not awaited here: on a
    // loaded machine that write was most of what `init --token` waited for after its admission.
    view.batch(() => gossip.loadState());
  }
  network.scheduleTick();
  gossip.start();
  return network;
}
