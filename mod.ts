#!/usr/bin/env node
/**
 * cohort: leaderless clustering for Deno and Node.
 *
 * Importing this module starts nothing. It re-exports the public API and offers
 * {@link createMember}, which assembles a member daemon from `lib/` and `routes/`. Run as the
 * main module (`deno run -A mod.ts …`, `node dist/mod.js …`) it is the `cohort` command line.
 *
 * @example
 * ```ts
 * import { createMember } from "cohort";
 * const member = await createMember({ stateDir: "/var/lib/app", extensions: ["feature_a"] });
 * await member.closed;
 * ```
 *
 * @module
 */
import { existsSync } from "node:fs";
import process from "node:process";
import type { CliDeps, DaemonCommandOptions } from "./lib/cli/command.ts";
import type { Daemon, DaemonOptions } from "./lib/daemon/daemon.ts";
import { createLogger, type Logger } from "./lib/log.ts";
import { flushLogs } from "./lib/log_sink.ts";
import { startCertificateProcess } from "./lib/net/cert_issuer.ts";
import { statePaths } from "./lib/daemon/state_dir.ts";
import { isMainModule } from "./lib/runtime.ts";
import { InvalidInputError } from "./lib/errors.ts";
import { createAppHandler, createRouter } from "./routes/router.ts";
import { checkEndpoints, servesWhile } from "./lib/app/endpoints.ts";
import { httpsForwarder } from "./lib/app/forward.ts";
import { type AppServer, ExtensionServers } from "./lib/app/servers.ts";
import { checkServers } from "./lib/app/check_servers.ts";
import type { AppEndpoint } from "./lib/app/endpoints.ts";
import type { MemberService } from "./lib/daemon/service.ts";

export * from "./lib/errors.ts";
export * from "./lib/log.ts";
export * from "./lib/cluster/extensions.ts";
export * from "./lib/cluster/address.ts";
export type * from "./lib/daemon/service.ts";
export type { DaemonHooks, HookContext } from "./lib/daemon/hooks.ts";
export type { Daemon, DaemonEvents, DaemonOptions, StopOutcome } from "./lib/daemon/daemon.ts";
export type { CertificateIssuer } from "./lib/net/cert_issuer.ts";
export { inProcessIssuer, startCertificateProcess } from "./lib/net/cert_issuer.ts";
export { createRouter } from "./routes/router.ts";
export type {
  ChangesOptions,
  RecordChange,
  RecordEntry,
  RecordsUsage,
  ReplicatedRecords,
} from "./lib/records/records.ts";
export { RECORDS_LIMITS } from "./lib/records/limits.ts";
export type {
  AppAccess,
  AppEndpoint,
  AppHandler,
  AppMethod,
  AppRequestContext,
} from "./lib/app/endpoints.ts";
export type { AppServer, ServerConfig, ServerState } from "./lib/app/servers.ts";
export type { AppStore, SqlParam, SqlParams, SqlRows } from "./lib/app/store.ts";
export type { MemberChange } from "./lib/daemon/events.ts";
export {
  type ErrorEnvelope,
  failureResponse,
  type SyncEnvelope,
  syncResponse,
  thrownResponse,
} from "./routes/responses.ts";

/**
 * Options of {@link createMember}: a daemon's options; the HTTP handler and the gossip layer
 * default to cohort's own.
 */
export type MemberOptions =
  & Omit<DaemonOptions, "handler" | "gossip" | "serveApp">
  & Partial<Pick<DaemonOptions, "handler" | "gossip">>
  & {
    /**
     * The app's REST endpoints, served beside cohort's API on the member's listeners (HTTPS and
     * the control socket); see {@link AppEndpoint}. Not with `handler` (which replaces cohort's
     * routes, and these with them). @default []
     */
    endpoints?: readonly AppEndpoint[];
    /**
     * The app's extension servers, by name: endpoint groups on addresses of their own
     * (`GET|PUT /core/1.0/daemon/servers`); see {@link AppServer}. @default {}
     */
    servers?: Readonly<Record<string, AppServer>>;
    logger?: Logger;
    /**
     * Collect metrics (served at `GET /core/1.0/metrics` by cohort's router). `false` saves the
     * Prometheus client's memory and the event loop sampling. @default true
     */
    metrics?: boolean;
    /**
     * Also serve the metrics over plain HTTP (`GET /metrics`), for a scraper without a member
     * certificate: `host:port`, or a bare port on 127.0.0.1. @default none
     */
    metricsAddress?: string;
  };

/**
 * Starts a cohort member with cohort's REST API: the embedding app's entry point. The returned
 * {@link Daemon} is also the member's API: e.g. `await member.setAppVersion("1.5.0")` announces
 * a new app version to every member without a restart (see `MemberService.setAppVersion`).
 *
 * @throws {LockedError} when another daemon uses the state directory.
 * @throws {InvalidInputError} for invalid extension names or an invalid `appVersion` (1 to 64
 * printable ASCII characters without spaces).
 */
export async function createMember(options: MemberOptions): Promise<Daemon> {
  const logger = options.logger ?? createLogger({ bindings: { component: "daemon" } });
  // An uninitialised member will need certificates: start their issuer first, so it loads while
  // the daemon's own modules do.
  const certificateIssuer = options.certificateIssuer ??
    (existsSync(statePaths(options.stateDir).config)
      ? undefined
      : startCertificateProcess({ logger: logger.child({ component: "certificates" }) }));
  let modules;
  try {
    // Loaded on demand: the store's native driver, the gossip engine and the Prometheus client
    // cost a CLI command that only talks to a running daemon a few hundred milliseconds.
    modules = await Promise.all([
      import("./lib/daemon/daemon.ts"),
      import("./gossip/member_factory.ts"),
      // The Prometheus client (and what it loads) only when metrics are on.
      options.metrics === false ? undefined : import("./lib/metrics/member_metrics.ts"),
      import("./lib/metrics/observed_service.ts"),
      import("./lib/metrics/listener.ts"),
      import("./lib/status/tracker.ts"),
      import("./lib/daemon/environment.ts"),
    ]);
  } catch (err) {
    certificateIssuer?.close();
    throw err;
  }
  const [
    { startDaemon },
    { createGossipMember },
    memberMetrics,
    { observeService },
    { parseMetricsAddress, serveMetrics },
    { StatusTracker },
    { systemEnvironment },
  ] = modules;
  const endpoints = options.endpoints ?? [];
  try {
    // Checked before the daemon touches anything, like every other option.
    checkEndpoints(endpoints);
    checkServers(options.servers ?? {});
    if (options.handler && (endpoints.length || Object.keys(options.servers ?? {}).length)) {
      throw new InvalidInputError(
        "endpoints and servers are served by cohort's router: leave out handler to use them",
        { field: "handler" },
      );
    }
    if (options.metricsAddress !== undefined) {
      if (options.metrics === false) {
        throw new InvalidInputError("metricsAddress needs metrics: leave metrics on", {
          field: "metricsAddress",
        });
      }
      parseMetricsAddress(options.metricsAddress);
    }
  } catch (err) {
    certificateIssuer?.close();
    throw err;
  }
  // What operators see: metrics, and the status behind the event stream and `cohort ui`.
  const metrics = memberMetrics && new memberMetrics.MemberMetrics();
  const status = new StatusTracker({
    logger: logger.child({ component: "status" }),
    onUpgradeCompleted: (seconds) => metrics?.upgradeCompleted(seconds),
  });
  // The app's endpoints: `?target=` goes out with this member's own certificate.
  const paths = statePaths(options.stateDir);
  let bound: MemberService | undefined;
  const forward = (target: string, request: Request) =>
    httpsForwarder(paths.dir, bound!)(target, request);
  const servers = options.servers && Object.keys(options.servers).length
    ? new ExtensionServers({
      dir: paths.dir,
      servers: options.servers,
      handlerFor: (name) =>
        createAppHandler(bound!, { endpoints: options.servers![name]!.endpoints, forward }, {
          logger: logger.child({ component: "api", server: name }),
        }),
      memberAddress: () => bound?.info().address ?? "",
      // The clock `startDaemon` runs the member on (its default environment's).
      clock: systemEnvironment.clock,
      logger: logger.child({ component: "servers" }),
    })
    : undefined;
  const handler = options.handler ??
    ((service) =>
      createRouter(service, {
        logger: logger.child({ component: "api" }),
        metrics,
        status,
        app: { endpoints, forward },
        servers,
      }));
  const gossip = options.gossip ?? ((setup) => createGossipMember(setup, metrics?.gossip));
  const daemon = await startDaemon({
    ...options,
    certificateIssuer,
    logger,
    handler: (service) => {
      metrics?.bind(service);
      status.bind(service);
      bound = observeService(service, status.hooks, ...(metrics ? [metrics.hooks] : []));
      return handler(bound);
    },
    // A handler of the app's own making may serve any path: cohort knows none of them unknown.
    serveApp: options.handler ? undefined : servesWhile(endpoints),
    gossip: (setup) => {
      const view = gossip(setup);
      status.watch(view);
      return view;
    },
  });
  daemon.on("upgrade-opened", ({ waitedMs }) => {
    metrics?.upgradeWaited(waitedMs / 1000);
    status.upgradeOpened(waitedMs);
  });
  daemon.on("cluster-extensions", (e) => status.clusterExtensions(e.extensions, e.previous));
  daemon.on("stopping", () => status.close());
  if (servers) {
    // Listening while the member is initialised (online or waiting), at whatever address it has.
    void servers.follow(daemon.status());
    daemon.on("phase", () => void servers.follow(daemon.status()));
    daemon.on("stopping", () => void servers.close());
  }
  if (metrics && options.metricsAddress !== undefined) {
    try {
      const listener = await serveMetrics(
        options.metricsAddress,
        metrics,
        logger.child({ component: "metrics" }),
      );
      daemon.on("stopping", () => void listener.close());
    } catch (err) {
      await daemon.stop();
      throw err;
    }
  }
  return daemon;
}

/**
 * Runs the `cohort` command line with `argv` (arguments after the program name) and returns its
 * exit code: 0 success, 1 failure, 2 usage error.
 *
 * The command line is loaded on the first call: a member started by the installed `cohort
 * daemon` (whose command line is a bundle of its own, `dist/cli.cjs`) or by an app's
 * `createMember` never runs it, and its commands' modules cost such a member about 1.4 MB.
 */
export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  const cli = await import("./lib/cli/main.ts");
  return await cli.runCli(argv, deps);
}

function startFromCli(options: DaemonCommandOptions): Promise<Daemon> {
  return createMember({
    stateDir: options.stateDir,
    extensions: options.extensions,
    appMigrations: options.appMigrations,
    appVersion: options.appVersion,
    databaseUrl: options.databaseUrl,
    gossipPreset: options.gossipPreset,
    upgradePolicy: options.upgradePolicy,
    upgradeDeadGraceMs: options.upgradeDeadGraceMs,
    metricsAddress: options.metricsAddress,
  });
}

if (isMainModule(import.meta)) {
  const code = await runCli(process.argv.slice(2), {
    startDaemon: startFromCli,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  // Exit explicitly: an idle keep-alive socket must not hold a finished command open. The log
  // lines still on their way to stderr go first.
  await flushLogs();
  process.exit(code);
}
