/**
 * A cohort member daemon: owns the state directory, the store and the listeners, and
 * implements {@link MemberService} for the routes. The HTTP handler is injected (`mod.ts` passes
 * the one built by `routes/`), so this module knows nothing of routing.
 *
 * @module
 */
import { readFile, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { ExtensionRegistry } from "../cluster/extensions.ts";
import { splitHostPort } from "../cluster/address.ts";
import { CohortError } from "../errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import { fingerprint, loadOrCreateKeyPair } from "../net/certificates.ts";
import { type Listener, serveHttps, serveUnix } from "../net/serve.ts";
import {
  deleteMember,
  getMember,
  insertMember,
  listMembers,
  updateMember,
} from "../store/members.ts";
import { openStore, type Store } from "../store/open.ts";
import { dumpSql, executeSql } from "../store/sql.ts";
import { type DaemonHooks, runHook } from "./hooks.ts";
import type {
  Caller,
  ClusterMemberEntry,
  ControlRequest,
  MemberService,
  MemberStatus,
  ServerInfo,
  SqlResult,
} from "./service.ts";
import {
  acquireLock,
  type DaemonConfig,
  ensureStateDir,
  readDaemonConfig,
  removeDaemonConfig,
  type StatePaths,
  statePaths,
  writeDaemonConfig,
} from "./state_dir.ts";
import { NotSupportedError } from "../errors.ts";
import { toClusterEntry } from "./entries.ts";

/** A fetch handler as served by the listeners. */
export type Handler = (request: Request, caller: Caller) => Promise<Response>;

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  /** State directory; created (mode 0711) when missing. */
  stateDir: string;
  /** The app's API extensions, oldest first. @default [] */
  extensions?: readonly string[];
  /** Folder of the app's drizzle-kit migrations. @default none */
  appMigrations?: string;
  /** The app's version string. @default "0.0.0" */
  appVersion?: string;
  /** libSQL URL of the store. @default `file:<stateDir>/database/cohort.db` */
  databaseUrl?: string;
  /** Builds the HTTP handler for this member (cohort's routes, possibly wrapped by the app). */
  handler: (service: MemberService) => Handler;
  /** App hooks (MicroCluster's names and moments). */
  hooks?: DaemonHooks;
  /** @default silentLogger */
  logger?: Logger;
}

/** A started daemon. */
export interface Daemon extends MemberService {
  /** Resolves once the daemon has fully stopped. */
  readonly closed: Promise<void>;
  /** The state directory's paths. */
  readonly paths: StatePaths;
  /** Stops listeners, closes the store and releases the lock. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a member: locks the state directory, opens and migrates the store, serves the control
 * socket and, when the member is initialised, HTTPS on its address.
 *
 * @throws {LockedError} when another daemon uses the state directory.
 * @throws {InvalidInputError} for invalid extension names or configuration.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const paths = statePaths(options.stateDir);
  // Validate configuration before touching the state directory, so a typo changes nothing.
  const registry = ExtensionRegistry.create(options.extensions ?? []);
  ensureStateDir(paths);
  const release = acquireLock(paths);
  const daemon = new MemberDaemon(paths, registry, options, release);
  try {
    await daemon.open();
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return daemon;
}

class MemberDaemon implements Daemon {
  readonly paths: StatePaths;
  readonly closed: Promise<void>;
  #registry: ExtensionRegistry;
  #options: DaemonOptions;
  #logger: Logger;
  #release: () => void;
  #resolveClosed!: () => void;
  #status: MemberStatus = "uninitialized";
  #store?: Store;
  #control?: Listener;
  #https?: Listener;
  #config?: DaemonConfig;
  #trusted = new Set<string>();
  #stopping?: Promise<void>;

  constructor(
    paths: StatePaths,
    registry: ExtensionRegistry,
    options: DaemonOptions,
    release: () => void,
  ) {
    this.paths = paths;
    this.#registry = registry;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#release = release;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  async open(): Promise<void> {
    this.#store = await openStore({
      url: this.#options.databaseUrl ?? `file:${this.paths.database}`,
      appMigrations: this.#options.appMigrations,
      logger: this.#logger.child({ component: "store" }),
    });
    const handler = this.#options.handler(this);
    this.#control = await serveUnix({
      path: this.paths.socket,
      handler,
      logger: this.#logger.child({ component: "control" }),
    });
    this.#config = readDaemonConfig(this.paths);
    if (this.#config) {
      this.#status = "starting";
      await this.#startNetwork(this.#config, handler);
      await this.#refreshOwnRow();
      this.#status = "online";
    }
    await runHook(this.#options.hooks?.onStart, "onStart", { daemon: this });
    this.#logger.info("Daemon started", {
      state_dir: this.paths.dir,
      status: this.#status,
      name: this.#config?.name,
      address: this.#config?.address,
      extensions: this.#registry.count,
      schema_internal: this.#store.versions.internal,
      schema_external: this.#store.versions.external,
    });
  }

  status(): MemberStatus {
    return this.#status;
  }

  info(): ServerInfo {
    return {
      name: this.#config?.name ?? hostname(),
      address: this.#config?.address ?? "",
      version: this.#options.appVersion ?? "0.0.0",
      ready: this.#status === "online",
      extensions: [...this.#registry.list],
    };
  }

  isTrusted(fp: string): boolean {
    return this.#trusted.has(fp);
  }

  async initialize(request: ControlRequest): Promise<ServerInfo> {
    if (!request.bootstrap) {
      throw new NotSupportedError("Joining an existing cluster is not supported yet");
    }
    if (this.#status !== "uninitialized") {
      throw new CohortError(
        "E_CONFLICT",
        409,
        `Member is already initialized as "${this.info().name}"`,
      );
    }
    this.#status = "starting";
    const config = { name: request.name, address: request.address };
    try {
      await runHook(this.#options.hooks?.preInit, "preInit", {
        daemon: this,
        bootstrap: true,
        config: request.config ?? {},
      });
      await this.#bootstrap(config);
      await runHook(this.#options.hooks?.postBootstrap, "postBootstrap", {
        daemon: this,
        config: request.config ?? {},
      });
    } catch (err) {
      await this.#undoInit(config.name);
      throw err;
    }
    this.#status = "online";
    this.#logger.info("Bootstrapped a new cluster", config);
    return this.info();
  }

  async #bootstrap(config: DaemonConfig): Promise<void> {
    const host = splitHostPort(config.address)!.host;
    const server = await loadOrCreateKeyPair(this.paths.dir, "server", {
      name: config.name,
      addresses: [host],
    });
    await loadOrCreateKeyPair(this.paths.dir, "cluster", { name: config.name, addresses: [host] });
    await insertMember(this.#store!, {
      name: config.name,
      address: config.address,
      certificate: server.cert,
      role: "voter",
      heartbeat: Date.now(),
      schemaInternal: this.#store!.versions.internal,
      schemaExternal: this.#store!.versions.external,
      extensions: [...this.#registry.list],
      appVersion: this.#options.appVersion ?? "0.0.0",
    });
    await this.#startNetwork(config, this.#options.handler(this));
    // daemon.json last: its presence is what makes a restart resume as an initialised member.
    writeDaemonConfig(this.paths, config);
    this.#config = config;
  }

  /** Removes everything a failed initialisation may have left, so the member stays clean. */
  async #undoInit(name: string): Promise<void> {
    await this.#https?.close().catch(() => {});
    this.#https = undefined;
    this.#config = undefined;
    this.#trusted.clear();
    removeDaemonConfig(this.paths);
    await deleteMember(this.#store!, name).catch(() => false);
    for (const file of ["server.crt", "server.key", "cluster.crt", "cluster.key"]) {
      await rm(join(this.paths.dir, file), { force: true });
    }
    this.#status = "uninitialized";
  }

  async #startNetwork(config: DaemonConfig, handler: Handler): Promise<void> {
    const hostPort = splitHostPort(config.address);
    if (!hostPort) throw new CohortError("E_INVALID", 400, `Invalid address "${config.address}"`);
    const [cert, key] = await Promise.all([
      readFile(join(this.paths.dir, "cluster.crt"), "utf8"),
      readFile(join(this.paths.dir, "cluster.key"), "utf8"),
    ]);
    await this.#reloadTrust();
    this.#https = await serveHttps({
      host: hostPort.host,
      port: hostPort.port,
      cert,
      key,
      handler,
      logger: this.#logger.child({ component: "https" }),
    });
  }

  async #reloadTrust(): Promise<void> {
    const members = await listMembers(this.#store!);
    this.#trusted = new Set(members.map((m) => fingerprint(m.certificate)));
  }

  /** A restarted member records the versions and extensions its (possibly new) code runs. */
  async #refreshOwnRow(): Promise<void> {
    const name = this.#config!.name;
    if (!(await getMember(this.#store!, name))) return;
    await updateMember(this.#store!, name, {
      schemaInternal: this.#store!.versions.internal,
      schemaExternal: this.#store!.versions.external,
      extensions: [...this.#registry.list],
      appVersion: this.#options.appVersion ?? "0.0.0",
      heartbeat: Date.now(),
    });
  }

  async clusterMembers(): Promise<ClusterMemberEntry[]> {
    const members = await listMembers(this.#store!);
    const self = this.#config?.name;
    return members.map((m) =>
      toClusterEntry(m, m.name === self && this.#status === "online" ? "ONLINE" : "UNREACHABLE")
    );
  }

  executeSql(query: string): Promise<{ results: SqlResult[] }> {
    return executeSql(this.#store!, query);
  }

  dumpSql(schemaOnly: boolean): Promise<string> {
    return dumpSql(this.#store!, { schemaOnly });
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
    this.#status = "stopping";
    const faults: unknown[] = [];
    for (const listener of [this.#https, this.#control]) {
      await listener?.close().catch((err) => faults.push(err));
    }
    try {
      this.#store?.close();
    } catch (err) {
      faults.push(err);
    }
    this.#release();
    if (faults.length) this.#logger.warn("Faults while stopping", { count: faults.length });
    this.#logger.info("Daemon stopped", { state_dir: this.paths.dir });
    this.#resolveClosed();
  }
}
