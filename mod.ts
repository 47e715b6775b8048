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
import { runCli } from "./lib/cli/main.ts";
import type { DaemonCommandOptions } from "./lib/cli/command.ts";
import type { Daemon, DaemonOptions } from "./lib/daemon/daemon.ts";
import { createLogger, type Logger } from "./lib/log.ts";
import { startCertificateProcess } from "./lib/net/cert_issuer.ts";
import { statePaths } from "./lib/daemon/state_dir.ts";
import { isMainModule } from "./lib/runtime.ts";
import { createRouter } from "./routes/router.ts";

export * from "./lib/errors.ts";
export * from "./lib/log.ts";
export * from "./lib/cluster/extensions.ts";
export * from "./lib/cluster/address.ts";
export type * from "./lib/daemon/service.ts";
export type { DaemonHooks, HookContext } from "./lib/daemon/hooks.ts";
export type { Daemon, DaemonEvents, DaemonOptions } from "./lib/daemon/daemon.ts";
export type { CertificateIssuer } from "./lib/net/cert_issuer.ts";
export { inProcessIssuer, startCertificateProcess } from "./lib/net/cert_issuer.ts";
export { createRouter } from "./routes/router.ts";
export { runCli } from "./lib/cli/main.ts";

/**
 * Options of {@link createMember}: a daemon's options; the HTTP handler and the gossip layer
 * default to cohort's own.
 */
export type MemberOptions =
  & Omit<DaemonOptions, "handler" | "gossip">
  & Partial<Pick<DaemonOptions, "handler" | "gossip">>
  & { logger?: Logger };

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
  let startDaemon: typeof import("./lib/daemon/daemon.ts").startDaemon;
  let createGossipMember: typeof import("./gossip/member_factory.ts").createGossipMember;
  try {
    // Loaded on demand: the store's native driver and the gossip engine cost a CLI command that
    // only talks to a running daemon a few hundred milliseconds of start-up.
    [{ startDaemon }, { createGossipMember }] = await Promise.all([
      import("./lib/daemon/daemon.ts"),
      import("./gossip/member_factory.ts"),
    ]);
  } catch (err) {
    certificateIssuer?.close();
    throw err;
  }
  return await startDaemon({
    ...options,
    certificateIssuer,
    logger,
    handler: options.handler ??
      ((service) => createRouter(service, { logger: logger.child({ component: "api" }) })),
    gossip: options.gossip ?? createGossipMember,
  });
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
  });
}

if (isMainModule(import.meta)) {
  const code = await runCli(process.argv.slice(2), {
    startDaemon: startFromCli,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  // Exit explicitly: an idle keep-alive socket must not hold a finished command open.
  process.exit(code);
}
