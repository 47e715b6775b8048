/**
 * One member: the owner of its state machine ({@link PhaseMachine}), its store, its network and
 * its background work. It decides, at start, which flow applies (see `flows/order.ts`), and
 * reacts to view changes last (after roles, the gate and persistence, see `network.ts`); its open,
 * initialisation and stop run in their own modules (`open_member.ts`, `initialize_member.ts`,
 * `stop_member.ts`) on what it holds. `member_daemon.ts` exposes it to the routes and the app.
 *
 * @module
 */
import { join } from "node:path";
import type { MemberVersion } from "../cluster/compat.ts";
import type { ExtensionRegistry } from "../cluster/extensions.ts";
import { UnavailableError } from "../errors.ts";
import { files } from "../files.ts";
import type { Logger } from "../log.ts";
import { type CertificateIssuer, startCertificateProcess } from "../net/cert_issuer.ts";
import type { Listener } from "../net/serve.ts";
import type { Store } from "../store/open.ts";
import { AppRecords } from "../records/records.ts";
import { Background, type Cancel } from "./background.ts";
import type { MemberContext } from "./context.ts";
import type { DaemonEnvironment } from "./environment.ts";
import { EventHub } from "./events.ts";
import { expireStaleJoins } from "./flows/accept_join.ts";
import { guardHandler } from "./guard.ts";
import { type DaemonHooks, type HookArgs, runHook } from "./hooks.ts";
import type { Network } from "./network.ts";
import type { DaemonOptions, Handler } from "./options.ts";
import { type Phase, PhaseMachine, statusOf } from "./phase.ts";
import type { ControlRequest, MemberService } from "./service.ts";
import { type DaemonConfig, readDaemonConfig, type StatePaths } from "./state_dir.ts";
import { readTransition } from "./transition.ts";
import { unavailable } from "./unavailable.ts";
import { ViewReactions } from "./reactions.ts";
import { RemovalCheck } from "./removal_check.ts";
import { type StopOutcome, StopReport } from "./stop_outcome.ts";
import { stopMember } from "./stop_member.ts";
import { openMember } from "./open_member.ts";
import { initializeMember } from "./initialize_member.ts";
import type { ViewChange } from "./view.ts";
import { emitMembership } from "./emit_membership.ts";

/** How often an online member looks for admitted joiners that never completed, ms. */
const STALE_JOIN_CHECK_MS = 10_000;

/** One member; see the module docs. */
export class Member implements MemberContext {
  readonly paths: StatePaths;
  readonly options: DaemonOptions;
  readonly env: DaemonEnvironment;
  readonly logger: Logger;
  readonly registry: ExtensionRegistry;
  readonly machine: PhaseMachine;
  readonly background: Background;
  readonly events: EventHub;
  readonly service: MemberService;
  /** Resolves once the member has stopped, to how its stop went. */
  readonly closed: Promise<StopOutcome>;
  /** The member's own reactions to view changes (and who it removes with force). */
  readonly reactions: ViewReactions;
  /** The questions it asks members that refuse its certificate. */
  readonly #removalCheck: RemovalCheck;
  /** Who else hears the listeners that refuse this member ({@link Member.hearRefusals}). */
  readonly #refusalListeners = new Set<(address: string) => void>();
  /** The app's replicated records, over the network's gossip while the member has one. */
  readonly records: AppRecords;
  #store!: Store;
  #config?: DaemonConfig;
  #network?: Network;
  #appVersion: string;
  #issuer?: CertificateIssuer;
  #givenUsed = false;
  #control?: Listener;
  #cancelStaleJoins: Cancel = () => {};
  #stopping?: Promise<StopOutcome>;
  readonly #report: StopReport;
  #started = false;
  #handler?: Handler;
  #release: () => void;
  #resolveClosed!: (outcome: StopOutcome) => void;

  constructor(init: {
    paths: StatePaths;
    registry: ExtensionRegistry;
    options: DaemonOptions;
    env: DaemonEnvironment;
    logger: Logger;
    appVersion: string;
    service: MemberService;
    release: () => void;
  }) {
    this.paths = init.paths;
    this.registry = init.registry;
    this.options = init.options;
    this.env = init.env;
    this.logger = init.logger;
    this.service = init.service;
    this.#appVersion = init.appVersion;
    this.#release = init.release;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#report = new StopReport(init.paths.dir);
    this.background = new Background(init.env.clock, init.logger);
    this.events = new EventHub(init.logger);
    this.#config = readDaemonConfig(init.paths);
    const t = readTransition(init.paths);
    // A leave recorded but not finished makes a removed member until its reset is done.
    const initial: Phase = t?.step === "leave"
      ? "removed"
      : this.#config
      ? "starting"
      : "uninitialized";
    this.machine = new PhaseMachine(initial, init.logger.child({ component: "member" }));
    this.machine.onChange((change) => {
      this.events.emit("phase", change);
      if (change.to === "waiting") {
        this.events.emit("upgrade-waiting", { waitingFor: this.waitingFor() });
      } else if (change.to === "refused") {
        this.events.emit("upgrade-refused", { reason: change.reason });
      }
    });
    this.reactions = new ViewReactions(this);
    this.#removalCheck = new RemovalCheck(this);
    this.records = new AppRecords({
      store: () =>
        this.#network && this.machine.is("online", "waiting") ? this.#network.gossip : undefined,
      unavailable: () => {
        const status = statusOf(this.machine.phase);
        return status === "uninitialized"
          ? new UnavailableError(
            "Cannot use replicated records: this member is not initialized (bootstrap or join a cluster first)",
          )
          : new UnavailableError(`Cannot use replicated records: the member is ${status}`);
      },
      flush: async () => await this.#network?.persistence.written(),
      name: () => this.#config?.name,
      logger: init.logger.child({ component: "records" }),
    });
  }

  /**
   * The handler every listener serves: the app's (cohort's routes, wrapped by the app), guarded by
   * phase (`guard.ts`). Built on first use, once the daemon the routes are given is complete.
   */
  get handler(): Handler {
    this.#handler ??= guardHandler(
      this.options.handler(this.service),
      () => this.machine.phase,
      () => this.waitingFor(),
      this.options.serveApp,
    );
    return this.#handler;
  }

  get store(): Store {
    return this.#store;
  }
  get config(): DaemonConfig | undefined {
    return this.#config;
  }
  get network(): Network | undefined {
    return this.#network;
  }
  get appVersion(): string {
    return this.#appVersion;
  }

  code(): MemberVersion {
    return {
      schemaInternal: this.#store.versions.internal,
      schemaExternal: this.#store.versions.external,
      extensions: this.registry.list,
    };
  }

  hook<K extends keyof DaemonHooks>(name: K, args: HookArgs<K>): Promise<void> {
    const fn = this.options.hooks?.[name] as ((ctx: unknown) => unknown) | undefined;
    return runHook(fn, name, { daemon: this.service, ...args });
  }

  issuer(): CertificateIssuer {
    if (!this.#issuer) {
      const given = this.options.certificateIssuer;
      // The app's issuer serves the first initialisation only: a member reset later gets its own.
      this.#issuer = given && !this.#givenUsed
        ? given
        : this.env.issuer?.() ?? startCertificateProcess({
          logger: this.logger.child({ component: "certificates" }),
        });
      this.#givenUsed = true;
    }
    return this.#issuer;
  }

  releaseIssuer(): void {
    if (!this.#givenUsed) this.options.certificateIssuer?.close();
    this.#givenUsed = true;
    this.#issuer?.close();
    this.#issuer = undefined;
  }

  async storedIdentity(): Promise<{ cert: string; key: string } | undefined> {
    try {
      const [cert, key] = await Promise.all(
        ["server.crt", "server.key"].map((f) => files().readFile(join(this.paths.dir, f))),
      );
      return { cert, key };
    } catch {
      return undefined;
    }
  }

  own(network: Network): void {
    this.#network = network;
    this.#cancelStaleJoins = this.background.every(
      "Dropping joins that never completed",
      STALE_JOIN_CHECK_MS,
      () => {
        if (this.#network === network && this.machine.is("online")) expireStaleJoins(this, network);
      },
    );
  }

  async dropNetwork(leave: boolean): Promise<void> {
    await this.#closeNetwork(leave);
  }

  /** {@link dropNetwork}, resolving to the store's error when its last writes failed. */
  #closeNetwork(leave: boolean): Promise<unknown> {
    const network = this.#network;
    this.#network = undefined;
    this.#cancelStaleJoins();
    return network?.close(leave) ?? Promise.resolve(undefined);
  }

  setConfig(config: DaemonConfig | undefined): void {
    this.#config = config;
  }

  replaceStore(store: Store): void {
    this.#store = store;
  }

  /** Sets the app version announced from now on (the caller gossips it). */
  setAppVersion(version: string): void {
    this.#appVersion = version;
  }

  /** Names of the members a waiting member waits for. */
  waitingFor(): string[] {
    return this.#network?.gate?.waitingFor() ?? [];
  }

  /**
   * The network of an online member.
   *
   * @throws {UnavailableError} naming the member's state (and, waiting, whom it waits for)
   */
  online(): Network {
    if (this.machine.is("online") && this.#network) return this.#network;
    throw unavailable(statusOf(this.machine.phase), this.waitingFor());
  }

  /**
   * Opens the member in `open_member.ts`'s order: the store, the control socket, then the flow
   * its state directory calls for (finish a leave, undo a join, clear leftovers, or start an
   * initialised member).
   */
  open(): Promise<void> {
    return openMember(this, {
      control: (listener) => void (this.#control = listener),
      started: () => void (this.#started = true),
    });
  }

  /** Bootstrap or join, then serve; undone completely on any failure (`initialize_member.ts`). */
  initialize(request: ControlRequest): Promise<void> {
    return initializeMember(this, request);
  }

  /**
   * The member's own reactions to a view change (the last of its consumers), then the app's
   * membership events.
   */
  onViewChange(change: ViewChange): void {
    if (change.kind === "record") this.records.notify(change.record, change.previous);
    this.reactions.onChange(change);
    emitMembership(this.events, change);
  }

  /** A member's gossip listener refused this member's certificate: see `removal_check.ts`. */
  onCertificateRefused(address: string): void {
    for (const hear of [...this.#refusalListeners]) hear(address);
    this.#removalCheck.refused(address);
  }

  /** See {@link MemberContext.hearRefusals}. */
  hearRefusals(listener: (address: string) => void): () => void {
    this.#refusalListeners.add(listener);
    return () => void this.#refusalListeners.delete(listener);
  }

  /**
   * Whether the member has started (MicroCluster's ready channel): from the end of {@link open}
   * (an initialised member has rejoined, possibly to wait for an upgrade) until it stops.
   */
  get started(): boolean {
    return this.#started && !this.machine.is("stopping");
  }

  /**
   * Stops the member in `stop_member.ts`'s order: gossip (telling peers), the store, the control
   * socket, then the lock. Idempotent. Resolves to how it went: not {@link StopOutcome.stored} when the store refused what the member
   * had to write (also its last log line, an error).
   */
  stop(): Promise<StopOutcome> {
    this.#stopping ??= stopMember(this, {
      control: () => this.#control,
      report: this.#report,
      closeNetwork: () => this.#closeNetwork(true),
      release: this.#release,
    }).then((outcome) => {
      this.#resolveClosed(outcome);
      return outcome;
    });
    return this.#stopping;
  }

  /**
   * Once a stop has written what it had to (or failed to), while its control socket still serves:
   * how that went, for the answer to a shutdown request. Starts no stop; pending until one.
   */
  stopWritten(): Promise<StopOutcome> {
    return this.#report.written;
  }
}
