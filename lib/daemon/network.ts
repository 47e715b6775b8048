/**
 * A member's network as one value: its HTTPS listener, its gossip member, the {@link ClusterView}
 * over them, the settled roles, the persistence of the view, and (while the member waits or
 * serves after a restart) its upgrade gate. `startNetwork` (`network_start.ts`) builds and
 * starts it; the member owns it and closes it. Every view change goes through {@link Network.dispatch}, to its
 * consumers in one defined order:
 *
 * 1. roles (adopted, deferred or dropped: `roles.ts`);
 * 2. the upgrade gate (re-decides while the member waits);
 * 3. persistence (what changed is written by the batch this change schedules);
 * 4. the member's own reactions (hooks, its own removal, the update command, common extensions).
 *
 * @module
 */
import { wallNow } from "../cluster/clock.ts";
import type { FormerCertificates } from "../cluster/former_certificates.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/open.ts";
import type { Background, Cancel } from "./background.ts";
import { EntryList } from "./entries.ts";
import type { DaemonEnvironment, NetListener } from "./environment.ts";
import type { UpgradeGate } from "./gating.ts";
import type { EventHub } from "./events.ts";
import type { GossipHandle } from "./gossip_port.ts";
import type { DaemonHooks, HookArgs } from "./hooks.ts";
import type { PeerConnections } from "./peers.ts";
import type { DaemonOptions, Handler } from "./options.ts";
import { PERSIST_INTERVAL_MS, type ViewPersistence } from "./persistence.ts";
import type { RoleTracker } from "./roles.ts";
import type { DaemonConfig, StatePaths } from "./state_dir.ts";
import type { ClusterView, ViewChange } from "./view.ts";

/** What a network needs from its member (see `context.ts`). */
export interface NetworkHost {
  readonly paths: StatePaths;
  readonly options: DaemonOptions;
  readonly env: DaemonEnvironment;
  readonly logger: Logger;
  readonly background: Background;
  readonly store: Store;
  /** The handler the listener serves. */
  readonly handler: Handler;
  /** The app version gossiped and listed. */
  readonly appVersion: string;
  /** The member's events, for the app. */
  readonly events: EventHub;
  /** Runs an app hook with the member as its context. */
  hook<K extends keyof DaemonHooks>(name: K, args: HookArgs<K>): Promise<void>;
  /** The member's own reactions to a view change (the last consumer). */
  onViewChange(change: ViewChange): void;
  /**
   * A member's gossip listener at `address` refused this member's certificate (it no longer
   * trusts it, or not yet): see `removal_check.ts`.
   */
  onCertificateRefused(address: string): void;
}

/** This member's and the cluster's certificates and keys (PEM). */
export interface Identity {
  cert: string;
  key: string;
  clusterCert: string;
  clusterKey: string;
}

/** A member's running network; see the module docs. */
export class Network {
  readonly config: DaemonConfig;
  readonly identity: Identity;
  readonly listener: NetListener;
  readonly gossip: GossipHandle;
  /** The certificates this member saw leave a name (its trust's memory, restored at start). */
  readonly former: FormerCertificates;
  readonly view: ClusterView;
  readonly roles: RoleTracker;
  readonly persistence: ViewPersistence;
  /**
   * Connections kept to the other members for requests outside gossip (a join's token claims):
   * those to a member that leaves the roster are ended, and all of them when the network closes.
   */
  readonly connections: PeerConnections;
  readonly #ctx: NetworkHost;
  #gate?: UpgradeGate;
  #cancelTick?: Cancel;
  #closing?: Promise<unknown>;
  readonly #entries = new EntryList();
  #changeWaiters: (() => void)[] = [];

  constructor(
    ctx: NetworkHost,
    parts: {
      config: DaemonConfig;
      identity: Identity;
      listener: NetListener;
      gossip: GossipHandle;
      former: FormerCertificates;
      view: ClusterView;
      roles: RoleTracker;
      persistence: ViewPersistence;
      connections: PeerConnections;
    },
  ) {
    this.#ctx = ctx;
    this.config = parts.config;
    this.identity = parts.identity;
    this.listener = parts.listener;
    this.gossip = parts.gossip;
    this.former = parts.former;
    this.view = parts.view;
    this.roles = parts.roles;
    this.persistence = parts.persistence;
    this.connections = parts.connections;
  }

  /** The upgrade gate of this run, once the member decided to wait or serve. */
  get gate(): UpgradeGate | undefined {
    return this.#gate;
  }

  /** Hands the gate of this run to the network, which stops it when it closes. */
  attachGate(gate: UpgradeGate): void {
    this.#gate = gate;
  }

  /**
   * View changes (one, or a batch's: `view.ts`) to every consumer, in the order of the module
   * docs. Roles and the gate re-decide once for the whole list: they read the view as it is now,
   * and doing it per change made a joiner's intake of N records O(N²).
   */
  dispatch(changes: readonly ViewChange[]): void {
    if (this.#closing) return;
    this.#entries.invalidate();
    this.roles.update();
    this.#gate?.recheck();
    for (const change of changes) this.persistence.onChange(change);
    this.scheduleTick();
    for (const change of changes) this.#ctx.onViewChange(change);
    const waiters = this.#changeWaiters;
    this.#changeWaiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Resolves after the next view change has been dispatched, or after `ms` (on the member's
   * clock), whichever comes first: a start that waits to hear from members decides the moment
   * their state arrives, not at its next poll.
   */
  nextChange(ms: number): Promise<void> {
    const clock = this.#ctx.env.clock;
    return new Promise((resolve) => {
      const timer = clock.setTimeout(done, ms);
      this.#changeWaiters.push(done);
      function done() {
        clock.clearTimeout(timer);
        resolve();
      }
    });
  }

  /**
   * Schedules the persistence batch (and the announced-role check riding on it)
   * {@link PERSIST_INTERVAL_MS} from now, unless one is scheduled already: a view change
   * schedules one, and a batch schedules the next only while something is left to write or
   * to check, so an idle member has no timer here.
   */
  scheduleTick(): void {
    if (this.#cancelTick || this.#closing) return;
    this.#cancelTick = this.#ctx.background.after(
      "Persisting the cluster view",
      PERSIST_INTERVAL_MS,
      async () => {
        this.#cancelTick = undefined;
        const again = this.roles.checkAnnounced();
        await this.persistence.flush();
        if (again || this.persistence.dirty) this.scheduleTick();
      },
    );
  }

  /**
   * The member rows as the API lists them (`selfOnline`: this member serves), from the one
   * maintained list (see `EntryList`).
   */
  entries(selfOnline: boolean) {
    return this.#entries.get(this.#sources(selfOnline));
  }

  /** {@link Network.entries} as the UTF-8 bytes of a JSON array (see `EntryList.utf8`). */
  entriesUtf8(selfOnline: boolean): Uint8Array[] {
    return this.#entries.utf8(this.#sources(selfOnline));
  }

  #sources(selfOnline: boolean) {
    return {
      view: this.view,
      roles: this.roles.roles(),
      appVersion: this.#ctx.appVersion,
      selfOnline,
      // A date: this member's own heartbeat as listed, compared with others' down-since dates.
      now: wallNow(this.#ctx.env.clock),
    };
  }

  /**
   * Stops everything, leaving gossip gracefully when `leave`, and writes what is pending. A store
   * that cannot take it (a full, read-only or failing disk) is logged as an error: the stop said
   * "Daemon stopped" alone, and what this member had learnt but not written was gone unsaid.
   * Resolves to the store's error then (the member's stop reports it), `undefined` once written.
   */
  close(leave: boolean): Promise<unknown> {
    this.#closing ??= (async () => {
      this.#cancelTick?.();
      this.#gate?.stop();
      this.roles.stop();
      this.view.stop();
      if (leave) await this.gossip.leave().catch(() => {});
      this.persistence.touch({ heartbeats: true });
      const unwritten = await this.persistence.written().then(() => undefined, (err: unknown) => {
        this.#ctx.logger.error(
          "Stopping without writing what changed since the store last wrote: a change no other " +
            "member holds (in a cluster of one, any) is lost",
          { err },
        );
        return err ?? new Error("the store failed a write");
      });
      await this.gossip.close().catch(() => {});
      await this.listener.close().catch(() => {});
      this.connections.close();
      return unwritten;
    })();
    return this.#closing;
  }
}
