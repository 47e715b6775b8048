/**
 * What the flows (bootstrap, join, accept-join, remove, leave, open) and the network work on:
 * one member, owned by `member.ts`. The member's phase is read here and changed only through its
 * {@link PhaseMachine}; the network is a value the member owns ({@link MemberContext.own}), never
 * a field the flows assign.
 *
 * @module
 */
import type { MemberVersion } from "../cluster/compat.ts";
import type { ExtensionRegistry } from "../cluster/extensions.ts";
import type { Logger } from "../log.ts";
import type { CertificateIssuer } from "../net/cert_issuer.ts";
import type { Store } from "../store/open.ts";
import type { Background } from "./background.ts";
import type { DaemonEnvironment } from "./environment.ts";
import type { EventHub } from "./events.ts";
import type { DaemonHooks, HookArgs } from "./hooks.ts";
import type { Network, NetworkHost } from "./network.ts";
import type { DaemonOptions, Handler } from "./options.ts";
import type { PhaseMachine } from "./phase.ts";
import type { MemberService } from "./service.ts";
import type { DaemonConfig, StatePaths } from "./state_dir.ts";
import type { StopOutcome } from "./stop_outcome.ts";
import type { ViewChange } from "./view.ts";

/** One member, as the flows see it; see the module docs. */
export interface MemberContext extends NetworkHost {
  readonly paths: StatePaths;
  readonly options: DaemonOptions;
  readonly env: DaemonEnvironment;
  readonly logger: Logger;
  readonly registry: ExtensionRegistry;
  readonly machine: PhaseMachine;
  readonly background: Background;
  /** The member as the app's hooks and the routes see it. */
  readonly service: MemberService;
  /** The member's events, for embedding apps. */
  readonly events: EventHub;
  /** The handler every listener serves (guarded by phase, see `guard.ts`). */
  readonly handler: Handler;
  /** The store; replaced by a reset. */
  readonly store: Store;
  /** Who this member is, once initialised (`daemon.json`). */
  readonly config: DaemonConfig | undefined;
  /** The running network, when the member has one. */
  readonly network: Network | undefined;
  /** The app version gossiped and listed. */
  readonly appVersion: string;
  /** The versions this member's code runs (its store's known schema versions, its extensions). */
  code(): MemberVersion;
  /** Runs an app hook with this member as its context. */
  hook<K extends keyof DaemonHooks>(name: K, args: HookArgs<K>): Promise<void>;
  /** The certificate issuer for an initialisation (started on demand). */
  issuer(): CertificateIssuer;
  /** Releases the certificate issuer (the member is initialised). */
  releaseIssuer(): void;
  /** This member's certificate and key from the state directory, when both are there. */
  storedIdentity(): Promise<{ cert: string; key: string } | undefined>;
  /** Takes ownership of a started network. */
  own(network: Network): void;
  /** Closes and forgets the network (leaving gossip gracefully when `leave`). */
  dropNetwork(leave: boolean): Promise<void>;
  /** Records who this member is (after `daemon.json` was written or removed). */
  setConfig(config: DaemonConfig | undefined): void;
  /** Replaces the store (a reset recreated it). */
  replaceStore(store: Store): void;
  /** Stops the member (as `Daemon.stop`), resolving to how it went. */
  stop(): Promise<StopOutcome>;
  /** The member's own reactions to a view change (the last consumer, see `network.ts`). */
  onViewChange(change: ViewChange): void;
  /**
   * Hears every gossip listener that refuses this member's certificate (the address it dialled),
   * besides the running member's removal check (`removal_check.ts`): a restart's learning
   * (`flows/rejoin_learn.ts`) asks such a member at once. Returns the way to stop hearing.
   */
  hearRefusals(listener: (address: string) => void): () => void;
}
