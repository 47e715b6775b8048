/**
 * The member's cluster lifecycle on top of the daemon core: bootstrap, join (both sides),
 * removal and reset (join tokens: `tokens.ts`). Every step either completes or is undone, so a
 * refused or failed step leaves a clean state directory behind.
 *
 * @module
 */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { splitHostPort } from "../cluster/address.ts";
import type { JsonValue } from "../cluster/membership.ts";
import { MEMBER_RECORD, type RosterEntry, tokenOf } from "../cluster/roster.ts";
import { decodeToken, hashSecret } from "../cluster/token.ts";
import { ConflictError, NotFoundError, UnavailableError } from "../errors.ts";
import { fingerprint, loadOrCreateKeyPair } from "../net/certificates.ts";
import { type CertificateIssuer, startCertificateProcess } from "../net/cert_issuer.ts";
import { requestJson } from "../net/client.ts";
import { pinnedTlsOptions } from "../net/pin.ts";
import { clearRecords } from "../store/records.ts";
import { deleteMember, listMembers } from "../store/members.ts";
import { checkAdmission } from "./admission.ts";
import { type DaemonCore, online } from "./options.ts";
import { type DaemonHooks, runHook } from "./hooks.ts";
import { startingMeta } from "./gossip_port.ts";
import { requestJoin } from "./join.ts";
import type { JoinTokens } from "./tokens.ts";
import type { ControlRequest, JoinRequest, JoinResponse, ServerInfo } from "./service.ts";
import { removeDaemonConfig, writeDaemonConfig } from "./state_dir.ts";

const CERT_FILES = ["server.crt", "server.key", "cluster.crt", "cluster.key"];

type HookArgs<K extends keyof DaemonHooks> = Omit<
  Parameters<NonNullable<DaemonHooks[K]>>[0],
  "daemon"
>;

/** Lifecycle operations of one daemon; see the module docs. */
export class Lifecycle {
  readonly #d: DaemonCore;
  readonly #tokens: JoinTokens;
  #resetting?: Promise<void>;
  /** Set once preRemove ran for the removal under way, so the reset does not run it again. */
  #preRemoved = false;
  /** Members this member is removing with `force`, until their tombstone is written. */
  #forcing = new Set<string>();
  /** Issues this member's certificates while it is uninitialised (see {@link prepare}). */
  #issuer?: CertificateIssuer;
  #givenUsed = false;

  constructor(core: DaemonCore, tokens: JoinTokens) {
    this.#d = core;
    this.#tokens = tokens;
  }

  /**
   * Readies an uninitialised member for bootstrap or join: starts the certificate process, so
   * the X.509 library loads while nobody waits and never stays in this process (see
   * `lib/net/cert_issuer.ts`). Released once the member is initialised, or by {@link close}.
   */
  prepare(): void {
    if (this.#issuer) return;
    const given = this.#d.options.certificateIssuer;
    // The app's issuer serves the first initialisation only: a member reset later gets its own.
    this.#issuer = given && !this.#givenUsed ? given : startCertificateProcess({
      logger: this.#d.logger.child({ component: "certificates" }),
    });
    this.#givenUsed = true;
  }

  /** Releases what {@link prepare} started (and the app's issuer, should it be unused). */
  close(): void {
    if (!this.#givenUsed) this.#d.options.certificateIssuer?.close();
    this.#givenUsed = true;
    this.#issuer?.close();
    this.#issuer = undefined;
  }

  /** Runs an app hook with this daemon as context. */
  hook<K extends keyof DaemonHooks>(name: K, args: HookArgs<K>): Promise<void> {
    const fn = this.#d.options.hooks?.[name] as ((ctx: unknown) => unknown) | undefined;
    const run = runHook(fn, name, { daemon: this.#d.service, ...args });
    if (name === "onNewMember" || name === "postRemove" || name === "onHeartbeat") {
      return run.catch((err) => this.#d.logger.error("Hook failed", { hook: name, err }));
    }
    return run;
  }

  /** Bootstrap or join, then serve; undone completely on any failure. */
  async initialize(request: ControlRequest): Promise<ServerInfo> {
    const d = this.#d;
    if (d.phase !== "uninitialized") {
      throw new ConflictError(`Member is already initialized as "${d.service.info().name}"`);
    }
    d.phase = "starting";
    const config = { name: request.name, address: request.address };
    const initConfig = request.config ?? {};
    // Set once a member admitted us: a failure after that must also take us out of its roster.
    let admitted:
      | { via: string; fingerprint: string; identity: { cert: string; key: string } }
      | undefined;
    // The cluster's certificate files being written, so a failure waits for them before undoing.
    let written: Promise<unknown> | undefined;
    try {
      await this.hook("preInit", { bootstrap: request.bootstrap, config: initConfig });
      const host = splitHostPort(config.address)!.host;
      const issuer = this.#issuer;
      const server = await loadOrCreateKeyPair(
        d.paths.dir,
        "server",
        {
          name: config.name,
          addresses: [host],
        },
        d.logger,
        issuer,
      );
      if (request.bootstrap) {
        const cluster = await loadOrCreateKeyPair(
          d.paths.dir,
          "cluster",
          {
            name: config.name,
            addresses: [host],
          },
          d.logger,
          issuer,
        );
        await d.startNetwork(config, {
          seeds: [],
          identity: {
            cert: server.cert,
            key: server.key,
            clusterCert: cluster.cert,
            clusterKey: cluster.key,
          },
        });
        d.gossip!.setRecord(
          MEMBER_RECORD,
          config.name,
          {
            address: config.address,
            certificate: server.cert,
            fingerprint: server.fingerprint,
            joinedAt: Date.now(),
          } satisfies RosterEntry as unknown as Record<string, unknown>,
        );
        writeDaemonConfig(d.paths, config);
        d.config = config;
        await this.hook("postBootstrap", { config: initConfig });
      } else {
        const token = decodeToken(request.join_token!);
        const { response, via } = await requestJoin(
          token,
          {
            name: config.name,
            address: config.address,
            certificate: server.cert,
            schema_internal_version: d.store.versions.internal,
            schema_external_version: d.store.versions.external,
            extensions: [...d.registry.list],
            app_version: d.service.info().version,
          },
          server,
          d.logger,
        );
        admitted = { via, fingerprint: token.fingerprint, identity: server };
        // Written while the network starts: the member is initialised only once its
        // configuration is written, after these.
        written = Promise.all([
          writeFile(join(d.paths.dir, "cluster.crt"), response.cluster_cert, { mode: 0o644 }),
          writeFile(join(d.paths.dir, "cluster.key"), response.cluster_key, { mode: 0o600 }),
        ]);
        written.catch(() => {}); // awaited below: a failure meanwhile is not unhandled
        const others = response.cluster_members.filter((m) => m.name !== config.name);
        // With the accepting member's view in hand, and our arrival announced by it, the one
        // push-pull below only catches up with what changed since (a member admitted beside us
        // whose news we could not hear before we listened); without them, push-pull with all.
        const seeds = response.gossip_state !== undefined
          ? []
          : others.map((m) => m.address).filter((a) => a !== via);
        await d.startNetwork(config, {
          seeds,
          provisional: others.map((m) => fingerprint(m.certificate)),
          initialState: response.gossip_state,
          identity: {
            cert: server.cert,
            key: server.key,
            clusterCert: response.cluster_cert,
            clusterKey: response.cluster_key,
          },
        });
        await written;
        await this.hook("preJoin", { config: initConfig });
        this.#markJoined(config.name);
        writeDaemonConfig(d.paths, config);
        d.config = config;
        await d.gossip!.join([via]);
        this.#markJoined(config.name); // in case our record only came with this push-pull
      }
    } catch (err) {
      await written?.catch(() => {}); // else a late write could outlive the undo
      await this.#undoInit(config.name);
      if (admitted) await this.#withdraw(config.name, admitted);
      throw err;
    }
    d.phase = "online";
    this.close();
    // Write the new member's view now rather than at the next batch: a `cohort sql` right after
    // `init` must see it.
    await d.membership?.flush();
    d.logger.info(request.bootstrap ? "Bootstrapped a new cluster" : "Joined the cluster", config);
    if (!request.bootstrap) await this.hook("postJoin", { config: initConfig });
    return d.service.info();
  }

  /** Our join is complete: clearing the roster record's mark has every member run onNewMember. */
  #markJoined(name: string): void {
    const own = this.#d.membership!.roster().get(name);
    if (!own?.joining) return;
    const { joining: _, ...joined } = own;
    this.#d.gossip!.setRecord(MEMBER_RECORD, name, joined as unknown as JsonValue);
  }

  /** Removes everything a failed initialisation may have left, so the member stays clean. */
  async #undoInit(name: string): Promise<void> {
    const d = this.#d;
    await d.stopNetwork(false);
    d.config = undefined;
    removeDaemonConfig(d.paths);
    await clearRecords(d.store).catch(() => {});
    await deleteMember(d.store, name).catch(() => false);
    for (const file of CERT_FILES) await rm(join(d.paths.dir, file), { force: true });
    d.phase = "uninitialized";
  }

  /**
   * Asks the member that admitted us to remove us again (forced: our listener is closed by now),
   * as MicroCluster does after a failed join, so the cluster keeps no half-made member.
   */
  async #withdraw(
    name: string,
    admitted: { via: string; fingerprint: string; identity: { cert: string; key: string } },
  ): Promise<void> {
    try {
      const answer = await requestJson({
        method: "DELETE",
        url: `https://${admitted.via}/core/1.0/cluster/${encodeURIComponent(name)}?force=1`,
        tls: pinnedTlsOptions({
          fingerprint: admitted.fingerprint,
          cert: admitted.identity.cert,
          key: admitted.identity.key,
        }),
        timeoutMs: 10_000,
      });
      if (answer.status >= 400) throw new Error(`HTTP ${answer.status}`);
    } catch (err) {
      this.#d.logger.warn("Could not withdraw from the cluster after a failed join", {
        via: admitted.via,
        err,
      });
    }
  }

  /** The accepting side of a join. */
  acceptJoin(request: JoinRequest): Promise<JoinResponse> {
    online(this.#d);
    const d = this.#d;
    const hash = hashSecret(request.secret);
    const token = tokenOf(d.gossip!, hash);
    const roster = d.membership!.roster();
    checkAdmission({
      request,
      token,
      now: Date.now(),
      local: d.local(),
      roster,
      versionOf: (name) => d.membership!.versionOf(name),
    });
    // Check and consumption run without an await between them: single-use on this member.
    if (token.state === "live") this.#tokens.consume(hash, token.entry.expiresAt);
    const entry: RosterEntry = {
      address: request.address,
      certificate: request.certificate,
      fingerprint: fingerprint(request.certificate),
      joinedAt: Date.now(),
      joining: true,
    };
    d.gossip!.setRecord(MEMBER_RECORD, request.name, entry as unknown as JsonValue);
    if (request.app_version !== undefined) {
      // Its request came over mutual TLS with everything it will gossip about itself: announce
      // it now rather than after its first exchange (before the state it is handed, too).
      d.gossip!.admit(
        request.name,
        startingMeta({
          address: request.address,
          fingerprint: entry.fingerprint,
          schemaInternal: request.schema_internal_version,
          schemaExternal: request.schema_external_version,
          appVersion: request.app_version,
          extensions: request.extensions,
        }),
      );
    }
    // The joiner does not listen yet: it gets the roster from us with its admission.
    this.#syncRoster(request.name);
    d.logger.info("Admitted a new member", { name: request.name, address: request.address });
    const members = [...d.membership!.roster()].map(([name, m]) => ({
      name,
      address: m.address,
      certificate: m.certificate,
    }));
    const self = members.find((m) => m.name === d.config!.name)!;
    return Promise.resolve({
      cluster_cert: d.clusterCert!,
      cluster_key: d.clusterKey!,
      cluster_members: members,
      trusted_member: self,
      gossip_state: d.gossip!.exportState(),
    });
  }

  /**
   * Has every other roster member compare digests with this one soon after this member changed
   * the roster. Trust follows the roster, so a member that missed the record's broadcast would
   * refuse a new member's gossip, and suspect it, until its next periodic push-pull, seconds
   * later. Digests, and not at once: full-state exchanges with every member right at the
   * admission would load the cluster, the joiner included, just when the joiner starts.
   */
  #syncRoster(skip?: string): void {
    const d = this.#d;
    const own = d.config!.name;
    const addresses = [...d.membership!.roster()]
      .filter(([name]) => name !== own && name !== skip)
      .map(([, m]) => m.address);
    d.gossip!.sync(addresses);
  }

  /** Removes a member from the cluster, from any member. */
  async removeMember(name: string, force: boolean): Promise<void> {
    online(this.#d);
    const d = this.#d;
    const roster = d.membership!.roster();
    const entry = roster.get(name);
    if (!entry) throw new NotFoundError(`No member named "${name}"`);
    if (roster.size === 1) {
      throw new ConflictError(`Cannot remove "${name}": it is the last member of the cluster`);
    }
    if (name === d.config!.name) {
      await this.resetSelf(force);
      d.gossip!.setRecord(MEMBER_RECORD, name, null);
      return;
    }
    try {
      const answer = await requestJson({
        method: "PUT",
        url: `https://${entry.address}/core/internal/cluster/${encodeURIComponent(name)}`,
        body: { force },
        tls: pinnedTlsOptions({
          fingerprint: fingerprint(d.clusterCert!),
          peerCert: d.clusterCert!,
          cert: d.serverCert!,
          key: d.serverKey!,
        }),
        timeoutMs: 10_000,
      });
      if (answer.status >= 400) {
        const msg = (answer.body as { error?: string })?.error ?? `HTTP ${answer.status}`;
        if (!force) throw new ConflictError(`Member "${name}" refused to leave: ${msg}`);
      }
    } catch (err) {
      if (err instanceof ConflictError) throw err;
      if (!force) {
        throw new UnavailableError(
          `Cannot reach member "${name}" at ${entry.address}: use --force to remove it anyway`,
        );
      }
      d.logger.warn("Removing an unreachable member", { name });
    }
    // The tombstone is what distrusts the member everywhere, whatever it did itself. Writing it
    // runs postRemove here (see memberRemoved), told whether the removal was forced.
    if (force) this.#forcing.add(name);
    d.gossip!.setRecord(MEMBER_RECORD, name, null);
    this.#forcing.delete(name);
    this.#syncRoster();
  }

  /**
   * Another member's roster record became a tombstone: runs postRemove once, here, whichever
   * member ran the removal. Only that member knows whether it was forced; others are told false.
   */
  memberRemoved(name: string): void {
    void this.hook("postRemove", { name, force: this.#forcing.has(name) });
  }

  /**
   * This member is asked to leave (by `cluster remove` here or on another member): runs
   * preRemove now, so that a throw refuses the removal unless `force`, then leaves gracefully
   * and wipes the cluster state once the caller has had its answer.
   */
  async resetSelf(force = false): Promise<void> {
    await this.hook("preRemove", { force }).catch((err) => {
      if (!force) throw err;
      this.#d.logger.error("Hook failed", { hook: "preRemove", err });
    });
    this.#preRemoved = true;
    // Answer first: the reset closes the listener a remote request arrived on.
    setTimeout(() => void this.#resetOnce(), 10);
  }

  #resetOnce(): Promise<void> {
    // Started a microtask later: the reset writes this member's tombstone, whose record-change
    // calls back here, and must find the reset under way.
    this.#resetting ??= Promise.resolve()
      .then(() => this.#reset())
      .finally(() => (this.#resetting = undefined));
    return this.#resetting;
  }

  async #reset(): Promise<void> {
    const d = this.#d;
    if (d.phase === "uninitialized" || d.phase === "stopping") return;
    const name = d.config?.name;
    // preRemove already ran when this member was asked to leave; not when it learnt of a
    // removal only from gossip (e.g. forced while it was unreachable).
    const preRemoved = this.#preRemoved;
    this.#preRemoved = false;
    if (!preRemoved) {
      await this.hook("preRemove", { force: false }).catch((err) =>
        d.logger.error("Hook failed", { hook: "preRemove", err })
      );
    }
    if (name && d.gossip?.record(MEMBER_RECORD, name)?.value !== null) {
      d.gossip?.setRecord(MEMBER_RECORD, name, null);
    }
    await d.stopNetwork(true);
    d.config = undefined;
    removeDaemonConfig(d.paths);
    await clearRecords(d.store).catch(() => {});
    for (const m of await listMembers(d.store).catch(() => [])) {
      await deleteMember(d.store, m.name).catch(() => false);
    }
    for (const file of CERT_FILES) await rm(join(d.paths.dir, file), { force: true });
    d.phase = "uninitialized";
    this.prepare();
    d.logger.info("Left the cluster: this member is uninitialized again", { name });
  }

  /** Called when this member sees its own roster record removed. */
  selfRemoved(): Promise<void> {
    return this.#resetOnce();
  }
}
