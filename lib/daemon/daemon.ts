/**
 * A cohort member daemon as the app and the routes see it: {@link startDaemon} locks the state
 * directory and opens a member (`member.ts`, the owner of its state machine), and the returned
 * {@link Daemon} implements {@link MemberService} on top of it (`member_daemon.ts`). The HTTP
 * handler, the gossip layer and the environment (clock, peers, listeners) are injected, so this
 * module knows neither `routes/` nor `gossip/`, and a whole member can run in one process on a
 * simulated clock (see `environment.ts`).
 *
 * @module
 */
import { ExtensionRegistry } from "../cluster/extensions.ts";
import { checkAppVersion, DEFAULT_APP_VERSION } from "../cluster/app_version.ts";
import { startDescriptorError } from "../open_files.ts";
import type { AppStore } from "../app/store.ts";
import { startRefusal } from "./disk_refusal.ts";
import { type DaemonEnvironment, systemEnvironment } from "./environment.ts";
import type { DaemonEvents } from "./events.ts";
import type { GossipHandle } from "./gossip_port.ts";
import { MemberDaemon } from "./member_daemon.ts";
import type { DaemonOptions } from "./options.ts";
import type { StopOutcome } from "./stop_outcome.ts";
import type { MemberService } from "./service.ts";
import { checkSocketPath } from "../net/socket_path.ts";
import { acquireLock, ensureStateDir, type StatePaths, statePaths } from "./state_dir.ts";

export type { DaemonEvents } from "./events.ts";
export type { DaemonOptions, Handler } from "./options.ts";
export type { DaemonEnvironment } from "./environment.ts";
export type { StopOutcome } from "./stop_outcome.ts";

/**
 * A started daemon: the member's API for the app (its status and cluster, its store through
 * {@link AppStore}, its events through {@link Daemon.on}).
 */
export interface Daemon extends MemberService, AppStore {
  /**
   * Resolves once the daemon has fully stopped, however it was stopped ({@link Daemon.stop}, a
   * shutdown request), to how its stop went: see {@link Daemon.stop}.
   */
  readonly closed: Promise<StopOutcome>;
  /** The state directory's paths. */
  readonly paths: StatePaths;
  /** The gossip view, once the member is initialised. */
  readonly view: GossipHandle | undefined;
  /**
   * Stops listeners, gossip (telling peers) and the store, and releases the lock. Idempotent.
   * Resolves to how it went: `{ stored: false, problem }` when the store could not take what the
   * member had to write before stopping (a full, read-only or failing disk; what changed since
   * it last wrote and no other member holds is lost), `{ stored: true }` otherwise. It resolves
   * either way: `cohort daemon` exits 1 on the former, and a process that embeds a member may do
   * the same so that its supervisor does not record a clean stop.
   */
  stop(): Promise<StopOutcome>;
  /**
   * Whether an API extension may be used: `local` (default) asks this member's own list,
   * `cluster` the list every member shares (safe during a rolling upgrade).
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
 * `env` is the member's world (default: the system clock, HTTPS, a control socket); pass
 * `memoryEnvironment(...)` with a gossip factory on the in-memory transport and
 * `databaseUrl: ":memory:"` to run a whole member on a simulated clock.
 *
 * @throws {LockedError} when another daemon uses the state directory.
 * @throws {InvalidInputError} for invalid extension names, app version or configuration, or a
 *   state directory too long for its control socket.
 * @throws {IncompatibleError} when the upgrade gate refuses this start.
 */
export async function startDaemon(
  options: DaemonOptions,
  env: DaemonEnvironment = systemEnvironment,
): Promise<Daemon> {
  const paths = statePaths(options.stateDir);
  let daemon: MemberDaemon | undefined;
  try {
    // Validate configuration before touching the state directory, so a typo changes nothing.
    const registry = ExtensionRegistry.create(options.extensions ?? []);
    checkAppVersion(options.appVersion ?? DEFAULT_APP_VERSION, "appVersion");
    if (env.controlSocket) checkSocketPath(paths.socket);
    ensureStateDir(paths);
    const release = acquireLock(paths);
    daemon = new MemberDaemon(paths, registry, options, env, release);
    await daemon.member.open();
  } catch (err) {
    // The daemon owns the given issuer once it exists; before that, nobody else will close it.
    if (daemon) await daemon.stop();
    else options.certificateIssuer?.close();
    throw startError(err, paths.dir);
  }
  return daemon;
}

/**
 * What a start that failed throws: a disk fault none of its steps named becomes a 507 naming the
 * state directory (`startRefusal`); too low a limit of open files names it and how to raise it,
 * whatever step met it (it printed `Listen on ".../control.socket": EMFILE`, or the bare `EMFILE: too many open
 * files, open '.../join_view.json'`); anything else as it was.
 */
function startError(err: unknown, dir: string): unknown {
  const descriptors = startDescriptorError(err);
  if (descriptors) return descriptors;
  // A disk fault no step named (a store write: it printed "Upsert …: no space left on the
  // member's disk", naming no directory; a file read: the bare `EIO: i/o error, read`).
  return startRefusal(err, undefined, dir);
}
