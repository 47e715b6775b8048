/**
 * A cohort member daemon: owns the state directory, the store, the listeners and the gossip
 * member, and implements {@link MemberService} for the routes. The HTTP handler and the gossip
 * layer are injected (`mod.ts` passes the ones from `routes/` and `gossip/`), so this module
 * knows neither.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { ExtensionRegistry } from "../cluster/extensions.ts";
import type { MemberVersion } from "../cluster/compat.ts";
import { splitHostPort } from "../cluster/address.ts";
import { checkAppVersion, DEFAULT_APP_VERSION } from "../cluster/app_version.ts";
import { type Logger, silentLogger } from "../log.ts";
import { fingerprint } from "../net/certificates.ts";
import { type Listener, serveHttps, serveUnix } from "../net/serve.ts";
import { listMembers } from "../store/members.ts";
import { loadRecords } from "../store/records.ts";
import { openStore, type Store } from "../store/open.ts";
import { dumpSql, executeSql } from "../store/sql.ts";
import { ConflictError, IncompatibleError, UnavailableError } from "../errors.ts";
import { UpgradeGate } from "./gating.ts";
import { extensionsReport, UpdateTrigger, UpgradeTracker } from "./upgrade.ts";
import { type GossipHandle, joinFirst, startingMeta } from "./gossip_port.ts";
import { type DaemonEvents, EventHub } from "./events.ts";

export type { DaemonEvents } from "./events.ts";
import { ClusterMembership } from "./membership.ts";
import { Lifecycle } from "./lifecycle.ts";
import { JoinTokens } from "./tokens.ts";
import type { DaemonCore, DaemonOptions, Handler, NetworkStart } from "./options.ts";

export type { DaemonCore, DaemonOptions, Handler } from "./options.ts";
import type {
  ClusterMemberEntry,
  ControlRequest,
  ExtensionsReport,
  JoinRequest,
  JoinResponse,
  MemberService,
  MemberStatus,
  ServerInfo,
  SqlResult,
  TokenInfo,
  UpgradeReport,
} from "./service.ts";
import {
  acquireLock,
  type DaemonConfig,
  ensureStateDir,
  readDaemonConfig,
  type StatePaths,
  statePaths,
} from "./state_dir.ts";

/** A started daemon. */
export interface Daemon extends MemberService {
  /** Resolves once the daemon has fully stopped. */
  readonly closed: Promise<void>;
  /** The state directory's paths. */
  readonly paths: StatePaths;
  /** The gossip view, once the member is initialised. */
  readonly view: GossipHandle | undefined;
  /** Stops listeners, gossip (telling peers) and the store, and releases the lock. Idempotent. */
  stop(): Promise<void>;
  /**
   * Whether an API extension may be used: `local` (default) asks this member's own list,
   * `cluster` the list every live member shares (safe during a rolling upgrade).
   */
  hasExtension(name: string, options?: { scope?: "local" | "cluster" }): boolean;
  /** Subscribes to a daemon event; returns the function that unsubscribes. */
  on<E extends keyof DaemonEvents>(
    event: E,
    listener: (payload: DaemonEvents[E]) => void,
  ): () => void;
}

/**
 * Starts a member: locks the state directory, opens and migrates the store, serves the control
 * socket and, when the member is initialised, HTTPS and gossip on its address.
 *
 * @throws {LockedError} when another daemon uses the state directory.
 * @throws {InvalidInputError} for invalid extension names, app version or configuration.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const paths = statePaths(options.stateDir);
  let daemon: MemberDaemon | undefined;
  try {
    // Validate configuration before touching the state directory, so a typo changes nothing.
    const registry = ExtensionRegistry.create(options.extensions ?? []);
    checkAppVersion(options.appVersion ?? DEFAULT_APP_VERSION, "appVersion");
    ensureStateDir(paths);
    const release = acquireLock(paths);
    daemon = new MemberDaemon(paths, registry, options, release);
    await daemon.open();
  } catch (err) {
    // The daemon owns the given issuer once it exists; before that, nobody else will close it.
    if (daemon) await daemon.stop();
    else options.certificateIssuer?.close();
    throw err;
  }
  return daemon;
}

class MemberDaemon implements Daemon, DaemonCore {
  readonly paths: StatePaths;
  readonly closed: Promise<void>;
  readonly registry: ExtensionRegistry;
  readonly options: DaemonOptions;
  readonly logger: Logger;
  readonly service: MemberService = this;
  store!: Store;
  phase: MemberStatus = "uninitialized";
  config?: DaemonConfig;
  https?: Listener;
  gossip?: GossipHandle;
  membership?: ClusterMembership;
  clusterCert?: string;
  clusterKey?: string;
  serverCert?: string;
  serverKey?: string;
  #release: () => void;
  #resolveClosed!: () => void;
  #control?: Listener;
  #handler?: Handler;
  #stopping?: Promise<void>;
  #tokens = new JoinTokens(this);
  #lifecycle = new Lifecycle(this, this.#tokens);
  #gate?: UpgradeGate;
  #tracker = new UpgradeTracker();
  #trigger: UpdateTrigger;
  #common: string[] = [];
  #events: EventHub;
  #appVersion: string;
  #started = false;

  constructor(
    paths: StatePaths,
    registry: ExtensionRegistry,
    options: DaemonOptions,
    release: () => void,
  ) {
    this.paths = paths;
    this.registry = registry;
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.#release = release;
    this.#appVersion = options.appVersion ?? DEFAULT_APP_VERSION;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#events = new EventHub(this.logger);
    this.#trigger = new UpdateTrigger({
      command: options.updateCommand,
      maxDelayMs: options.updateMaxDelayMs,
      logger: this.logger.child({ component: "upgrade" }),
    });
  }

  get view(): GossipHandle | undefined {
    return this.gossip;
  }

  local(): MemberVersion {
    return {
      schemaInternal: this.store.versions.internal,
      schemaExternal: this.store.versions.external,
      extensions: this.registry.list,
    };
  }

  async open(): Promise<void> {
    this.config = readDaemonConfig(this.paths);
    // An uninitialised member will need certificates: get their issuer loading now, in parallel
    // with the store. An initialised one never does (until a reset prepares again).
    if (this.config) this.#lifecycle.close();
    else this.#lifecycle.prepare();
    this.store = await openStore({
      url: this.options.databaseUrl ?? `file:${this.paths.database}`,
      appMigrations: this.options.appMigrations,
      logger: this.logger.child({ component: "store" }),
    });
    this.#handler = this.options.handler(this);
    this.#control = await serveUnix({
      path: this.paths.socket,
      handler: this.#handler,
      logger: this.logger.child({ component: "control" }),
    });
    if (this.config) {
      this.phase = "starting";
      const others = (await listMembers(this.store)).filter((m) => m.name !== this.config!.name);
      const seeds = others.map((m) => m.address);
      await this.startNetwork(this.config, { seeds });
      // Learn the others' current versions before deciding to open. One answer is enough (a
      // push-pull carries the whole member table): waiting for the slowest seed could cost a
      // full request timeout.
      if (seeds.length) await joinFirst(this.gossip!, seeds);
      this.#gate = new UpgradeGate({
        name: this.config.name,
        local: this.local(),
        gossip: this.gossip!,
        membership: this.membership!,
        logger: this.logger.child({ component: "upgrade" }),
        deadGraceMs: this.options.upgradeDeadGraceMs,
        policy: this.options.upgradePolicy,
        onOpen: (waitedMs) => {
          this.phase = "online";
          this.#events.emit("upgrade-opened", { waitedMs });
          this.#onViewChange();
        },
      });
      const decision = this.#gate.begin();
      if (decision.decision === "refuse") {
        // The decision may rest on stored versions when the join push-pull did not answer in
        // time; one more push-pull hands the other members this member's versions (its list
        // included) before it leaves, so their side can report the difference too.
        if (seeds.length) await this.gossip!.join(seeds);
        throw new IncompatibleError(decision.message);
      }
      this.phase = this.#gate.waitingFor().length ? "waiting" : "online";
    }
    await this.#lifecycle.hook("onStart", {});
    this.#started = true;
    this.logger.info("Daemon started", {
      state_dir: this.paths.dir,
      status: this.phase,
      name: this.config?.name,
      address: this.config?.address,
      extensions: this.registry.count,
      schema_internal: this.store.versions.internal,
      schema_external: this.store.versions.external,
    });
  }

  async startNetwork(config: DaemonConfig, start: NetworkStart): Promise<void> {
    const { seeds, initialState } = start;
    const hostPort = splitHostPort(config.address)!;
    const { cert, key, clusterCert, clusterKey } = start.identity ?? await this.#readIdentity();
    Object.assign(this, { clusterCert, clusterKey, serverCert: cert, serverKey: key });
    const own = fingerprint(cert);
    const provisionalTrust = new Set([own, ...(start.provisional ?? [])]);
    // Provisional trust (a joiner's member list) only bridges the moment before the replicated
    // roster reached us; once it lists this member it decides alone, so removals take effect.
    const isTrusted = (fp: string) =>
      this.membership?.isTrusted(fp) ||
      (provisionalTrust.has(fp) && !this.membership?.roster().has(config.name));
    this.https = await serveHttps({
      host: hostPort.host,
      port: hostPort.port,
      cert: clusterCert,
      key: clusterKey,
      handler: this.#handler!,
      logger: this.logger.child({ component: "https" }),
    });
    const gossip = this.options.gossip({
      name: config.name,
      address: config.address,
      meta: startingMeta({
        address: config.address,
        fingerprint: own,
        schemaInternal: this.store.versions.internal,
        schemaExternal: this.store.versions.external,
        appVersion: this.#appVersion,
        extensions: this.registry.list,
      }),
      server: this.https.server as import("node:https").Server,
      cert,
      key,
      clusterCert,
      isTrusted,
      seeds,
      records: await loadRecords(this.store, Date.now()),
      initialState,
      preset: this.options.gossipPreset ?? "lan",
      logger: this.logger.child({ component: "gossip" }),
    });
    this.gossip = gossip;
    this.membership = new ClusterMembership({
      name: config.name,
      gossip,
      store: this.store,
      local: this.local(),
      appVersion: this.#appVersion,
      logger: this.logger.child({ component: "cluster" }),
      onTrustChange: () => gossip.refreshTrust(),
      onSelfRemoved: () => void this.#lifecycle.selfRemoved(),
      onMemberRemoved: (name) => this.#lifecycle.memberRemoved(name),
      onRoleChange: (role, previous) =>
        void this.#lifecycle.hook("onHeartbeat", { role, previous }),
      // A joiner learns the existing members from the roster too: they are not new members.
      onMemberAdded: (name) => {
        if (name !== config.name && this.phase === "online") {
          void this.#lifecycle.hook("onNewMember", { name });
        }
      },
    });
    await this.membership.start();
    for (const ev of ["member-join", "member-update", "member-failed", "member-left"] as const) {
      gossip.on(ev, () => this.#onViewChange());
    }
    gossip.start();
  }

  /** This member's and the cluster's certificates and keys, from the state directory. */
  async #readIdentity(): Promise<NonNullable<NetworkStart["identity"]>> {
    const read = (file: string) => readFile(join(this.paths.dir, file), "utf8");
    const [cert, key, clusterCert, clusterKey] = await Promise.all(
      ["server.crt", "server.key", "cluster.crt", "cluster.key"].map(read),
    );
    return { cert, key, clusterCert, clusterKey };
  }

  /** Re-derives what depends on the whole view: the update trigger, the common extensions. */
  #onViewChange(): void {
    const membership = this.membership;
    if (!membership || !this.config) return;
    this.#trigger.check(this.local(), membership);
    const common = extensionsReport(this.config.name, this.local(), membership).cluster;
    if (common.length > this.#common.length) {
      const previous = this.#common;
      this.#common = common;
      if (previous.length) {
        this.logger.info("The extensions common to every live member grew", {
          added: common.slice(previous.length),
          count: common.length,
        });
        this.#events.emit("cluster-extensions", { extensions: common, previous });
      }
    } else this.#common = common;
  }

  on<E extends keyof DaemonEvents>(
    event: E,
    listener: (payload: DaemonEvents[E]) => void,
  ): () => void {
    return this.#events.on(event, listener);
  }

  hasExtension(name: string, options: { scope?: "local" | "cluster" } = {}): boolean {
    if ((options.scope ?? "local") === "local") return this.registry.has(name);
    if (!this.membership || !this.config) return false;
    return extensionsReport(this.config.name, this.local(), this.membership).cluster.includes(name);
  }

  waitingFor(): string[] {
    return this.#gate?.waitingFor() ?? [];
  }

  nudge(): void {
    this.#gate?.recheck();
  }

  extensions(): ExtensionsReport {
    if (!this.membership || !this.config) {
      throw new UnavailableError("Database is not yet initialized");
    }
    return extensionsReport(this.config.name, this.local(), this.membership);
  }

  upgradeStatus(): UpgradeReport {
    if (!this.membership || !this.config) {
      throw new UnavailableError("Database is not yet initialized");
    }
    return this.#tracker.report(
      this.local(),
      this.membership,
      this.#gate?.waitingSince ?? 0,
      this.#gate?.decision?.excluded,
    );
  }

  async stopNetwork(leave: boolean): Promise<void> {
    const gossip = this.gossip;
    if (gossip && leave) await gossip.leave().catch(() => {});
    await this.membership?.stop().catch(() => {});
    await gossip?.close().catch(() => {});
    await this.https?.close().catch(() => {});
    this.gossip = undefined;
    this.membership = undefined;
    this.https = undefined;
  }

  status(): MemberStatus {
    return this.phase;
  }

  started(): boolean {
    return this.#started && this.phase !== "stopping";
  }

  info(): ServerInfo {
    return {
      name: this.config?.name ?? hostname(),
      address: this.config?.address ?? "",
      version: this.#appVersion,
      ready: this.phase === "online",
      extensions: [...this.registry.list],
    };
  }

  async setAppVersion(version: string): Promise<void> {
    checkAppVersion(version, "app_version");
    if (this.phase === "uninitialized") {
      throw new ConflictError("Cannot set the app version: this member is not initialized yet");
    }
    if (!this.membership || this.phase === "stopping") {
      throw new UnavailableError(`Cannot set the app version: the member is ${this.phase}`);
    }
    this.#appVersion = version;
    await this.membership.setAppVersion(version);
  }

  isTrusted(fp: string): boolean {
    return this.membership?.isTrusted(fp) ?? false;
  }

  initialize(request: ControlRequest): Promise<ServerInfo> {
    return this.#lifecycle.initialize(request);
  }

  clusterMembers(): Promise<ClusterMemberEntry[]> {
    if (!this.membership) throw new UnavailableError("Database is not yet initialized");
    return Promise.resolve(this.membership.entries(this.phase === "online"));
  }

  executeSql(query: string, signal?: AbortSignal): Promise<{ results: SqlResult[] }> {
    return executeSql(this.store, query, { signal });
  }

  dumpSql(schemaOnly: boolean, signal?: AbortSignal): Promise<string> {
    return dumpSql(this.store, { schemaOnly, signal });
  }

  createToken(name: string, expireAfterMs: number): Promise<string> {
    return this.#tokens.create(name, expireAfterMs);
  }

  listTokens(): Promise<TokenInfo[]> {
    return this.#tokens.list();
  }

  revokeToken(name: string): Promise<void> {
    return this.#tokens.revoke(name);
  }

  acceptJoin(request: JoinRequest): Promise<JoinResponse> {
    return this.#lifecycle.acceptJoin(request);
  }

  removeMember(name: string, force: boolean): Promise<void> {
    return this.#lifecycle.removeMember(name, force);
  }

  resetSelf(force?: boolean): Promise<void> {
    return this.#lifecycle.resetSelf(force);
  }

  requestShutdown(): void {
    // Let the current response reach the client before the listener closes.
    setTimeout(() => void this.stop(), 10);
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.phase = "stopping";
    this.#events.emit("stopping", {});
    this.#gate?.stop();
    this.#trigger.stop();
    // A stopped daemon stays a member (only `cluster remove` takes it out), but it tells its
    // peers it is going, so they show it UNREACHABLE at once instead of after failure detection.
    await this.stopNetwork(true);
    this.#lifecycle.close();
    await this.#control?.close().catch(() => {});
    try {
      this.store?.close();
    } catch { /* already closed */ }
    this.#release();
    this.logger.info("Daemon stopped", { state_dir: this.paths.dir });
    this.#resolveClosed();
  }
}
