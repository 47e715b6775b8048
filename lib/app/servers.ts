/**
 * The app's extension servers (MicroCluster's additional listeners, `rest.Server`): named groups
 * of app endpoints, each served on an address of its own by a `node:https` listener of its own,
 * presenting the cluster's certificate, or its own (`server_pair.ts`: a pair placed in
 * `STATE_DIR/certificates/NAME.crt|key` by hand or by `PUT /core/1.0/cluster/certificates/NAME`
 * ({@link ExtensionServers.replacePair}), or made there at first use for `dedicatedCertificate`;
 * one that cannot be served is refused, naming the file).
 *
 * A server listens while the member is initialised (online, or waiting for an upgrade: its
 * endpoints' flags decide what it answers then), at the address last set by
 * `PUT /core/1.0/daemon/servers` (kept in `STATE_DIR/servers.json`), else the one the app gave.
 * A server without an address is not served. `GET /core/1.0/daemon/servers` lists the addresses
 * as `{"NAME":{"address":"host:port"}}`, MicroCluster's JSON, each with its state beside
 * ({@link ServerState}). Addresses follow the rule of member addresses (`parseAddress`): kept,
 * listed and compared in their one spelling, so that no two servers, nor a server and the
 * member, are given one address in two spellings.
 *
 * A server that cannot listen (its pair refused, a full disk, its port taken) is tried again on
 * the member's clock, after `RETRY_FIRST_MS`, then twice as long each time up to `RETRY_MAX_MS`
 * (`server_tries.ts`), until it listens or the member stops: an operator who mends the cause
 * need not restart the member (it was tried only at the next start). Each change of its state
 * (listening, or failing for another reason) is logged once. `PUT` tries a server it names
 * again at once, as MicroCluster's starts every named listener that is not running. A listening
 * server is tried again when its certificate expires, so that one placed by hand is then
 * refused (and shown so) rather than served to clients that all refuse it.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { addressProblem, canonicalAddress, splitHostPort } from "../cluster/address.ts";
import { storedAddress } from "../cluster/address_stored.ts";
import { type Clock, wallNow } from "../cluster/clock.ts";
import { InvalidInputError, isCohortError, NotFoundError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { type Listener, serveHttps } from "../net/serve.ts";
import type { Handler } from "../daemon/options.ts";
import { writeDurablyAsync } from "../write_durably.ts";
import type { MemberStatus } from "../daemon/service.ts";
import type { AppEndpoint } from "./endpoints.ts";
import { checkHandedPair, type PemPair } from "./pair_fault.ts";
import { placePair } from "./place_pair.ts";
import { type FileError, serverPair } from "./server_pair.ts";
import { readStored } from "./servers_stored.ts";
import {
  failedTry,
  RETRY_FIRST_MS,
  type ServerStatus,
  type Tried,
  WATCH_MAX_MS,
} from "./server_tries.ts";

/** One extension server, as the app declares it. */
export interface AppServer {
  /** Its endpoints (the same rules as the member's own app endpoints). */
  endpoints: readonly AppEndpoint[];
  /** Where it listens (`host:port`) until `PUT /core/1.0/daemon/servers` says otherwise. */
  address?: string;
  /** Present a certificate of its own instead of the cluster's. @default false */
  dedicatedCertificate?: boolean;
}

/** The mutable part of an extension server: MicroCluster's `ServerConfig`. */
export interface ServerConfig {
  /** `host:port`; `""` when it is not served. */
  address: string;
}

/**
 * An extension server as `GET /core/1.0/daemon/servers` shows it: its {@link ServerConfig} and
 * what became of it (cohort only: MicroCluster's clients read the address and ignore the rest).
 */
export interface ServerState extends ServerConfig {
  /** See {@link ServerStatus}. */
  status: ServerStatus;
  /** Why it failed, naming files relative to the state directory. */
  error?: string;
  /** Tries that failed in a row (the first included), while `failed`. */
  attempts?: number;
}

/** What the `daemon/servers` routes ask of the member. */
export interface ServersSource {
  /** Each server's address and state, by name. */
  get(): Record<string, ServerState>;
  /**
   * Sets the addresses of the named servers (the others keep theirs), writes them to the state
   * directory, restarts the listeners that changed, and tries again at once a named server that
   * is not listening.
   *
   * @throws {InvalidInputError} for an unknown name, an invalid address, or one already in use
   */
  set(config: Record<string, ServerConfig>): Promise<void>;
  /**
   * Makes `pair` server `name`'s own (`PUT /core/1.0/cluster/certificates/{name}`): checked by
   * the rules of a pair found on disk, written in its place (both files or neither), and, when
   * the member serves it, presented at once by its listener (its open connections kept), or the
   * server tried again at once when it was not listening. Resolves with the server's state then.
   *
   * @throws {NotFoundError} for a name no server has
   * @throws {InvalidInputError} naming the field (`cert`, `key`) for a pair that cannot be served
   * @throws {NoSpaceError} or `DiskError` when it cannot be written (nothing changed)
   */
  replacePair(name: string, pair: PemPair): Promise<ServerState>;
}

/** The listeners of the app's servers; see the module docs. */
export class ExtensionServers implements ServersSource {
  readonly #dir: string;
  readonly #servers: Readonly<Record<string, AppServer>>;
  readonly #handlerFor: (name: string) => Handler;
  readonly #logger: Logger;
  readonly #memberAddress: () => string;
  readonly #clock: Clock;
  #config: Record<string, ServerConfig>;
  readonly #listeners = new Map<string, Listener>();
  readonly #tried = new Map<string, Tried>();
  #running = false;
  /** Starts, stops and tries run one after the other. */
  #queue: Promise<void> = Promise.resolve();

  constructor(o: {
    /** The member's state directory. */
    dir: string;
    servers: Readonly<Record<string, AppServer>>;
    /** The handler serving server `name`'s endpoints. */
    handlerFor: (name: string) => Handler;
    /** The member's own address (no server may take it). */
    memberAddress: () => string;
    /** The member's clock: the waits between tries, and the time a certificate must be valid. */
    clock: Clock;
    logger: Logger;
  }) {
    this.#dir = o.dir;
    this.#servers = o.servers;
    this.#handlerFor = o.handlerFor;
    this.#memberAddress = o.memberAddress;
    this.#clock = o.clock;
    this.#logger = o.logger;
    const stored = readStored(join(o.dir, "servers.json"));
    this.#config = {};
    for (const [name, s] of Object.entries(o.servers)) {
      const given = s.address ? canonicalAddress(s.address) ?? s.address : "";
      this.#config[name] = { address: stored[name]?.address ?? given };
    }
  }

  get(): Record<string, ServerState> {
    const out: Record<string, ServerState> = {};
    for (const [name, { address }] of Object.entries(this.#config)) {
      const t = this.#tried.get(name);
      const status = address === "" ? "unserved" : t?.status ?? "starting";
      out[name] = status === "failed"
        ? { address, status, error: t!.error!, attempts: t!.attempts }
        : { address, status };
    }
    return out;
  }

  async set(config: Record<string, ServerConfig>): Promise<void> {
    const next = structuredClone(this.#config);
    for (const [name, c] of Object.entries(config)) {
      if (!(name in this.#servers)) {
        throw new InvalidInputError(`No matching additional listener found for "${name}"`, {
          field: name,
        });
      }
      const problem = c.address === "" ? undefined : addressProblem(c.address);
      if (problem) {
        throw new InvalidInputError(`Invalid request body: ${name}.address: ${problem}`, {
          field: `${name}.address`,
        });
      }
      next[name] = { address: c.address === "" ? "" : canonicalAddress(c.address)! };
    }
    const used = new Set([storedAddress(this.#memberAddress())]);
    for (const c of Object.values(next)) {
      if (c.address === "") continue;
      if (used.has(c.address)) {
        throw new InvalidInputError(`Address "${c.address}" is already in use`, {
          field: "address",
        });
      }
      used.add(c.address);
    }
    const changed = Object.keys(next).filter((n) => next[n]!.address !== this.#config[n]!.address);
    // As MicroCluster's: a server named that is not listening is started, changed or not.
    const again = Object.keys(config).filter((n) =>
      !changed.includes(n) && !this.#listeners.has(n)
    );
    this.#config = next;
    await mkdir(this.#dir, { recursive: true });
    const path = join(this.#dir, "servers.json");
    await writeDurablyAsync(this.#dir, path, JSON.stringify(next, null, 2) + "\n");
    if (changed.length) this.#logger.info("Extension servers changed", { servers: changed });
    if (this.#running) await this.#serial(() => this.#restart([...changed, ...again]));
  }

  async replacePair(name: string, pair: PemPair): Promise<ServerState> {
    if (!(name in this.#servers)) {
      throw new NotFoundError(`No matching additional server found for "${name}"`);
    }
    checkHandedPair(pair, wallNow(this.#clock));
    // In the queue: a start or try of this server reads the files whole, before or after.
    await this.#exclusive(async () => {
      await placePair(this.#dir, name, pair);
      this.#logger.info("Extension server key pair replaced", { server: name });
      if (!this.#running) return;
      const server = this.#listeners.get(name)?.server;
      if (server && "setSecureContext" in server) {
        // In place, as MicroCluster's listeners: new connections get the new pair, and those
        // open (a client's keep-alive) are not cut, as a restart would.
        server.setSecureContext({ cert: pair.cert, key: pair.key });
        const before = this.#tried.get(name);
        if (before?.timer !== undefined) this.#clock.clearTimeout(before.timer);
        const t: Tried = { status: "listening", attempts: 0, wait: RETRY_FIRST_MS };
        this.#tried.set(name, t);
        this.#watch(name, t, Date.parse(new X509Certificate(pair.cert).validTo));
      } else {
        await this.#restart([name]); // not listening: tried again at once, with the new pair
      }
    });
    return this.get()[name]!;
  }

  /** Follows the member's status: listening while it is online or waiting. */
  follow(status: MemberStatus): Promise<void> {
    const run = status === "online" || status === "waiting";
    if (run === this.#running) return this.#queue;
    this.#running = run;
    return this.#serial(() => run ? this.#restart(Object.keys(this.#servers)) : this.#closeAll());
  }

  /** Closes every listener and cancels every try to come: the member stops. */
  close(): Promise<void> {
    this.#running = false;
    this.#cancelAll();
    return this.#serial(() => this.#closeAll());
  }

  /** {@link ExtensionServers.#serial}, but the step's failure is the caller's. */
  #exclusive(step: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(step, step);
    this.#queue = run.catch(() => {});
    return run;
  }

  #serial(step: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(step, step).catch((err) => {
      this.#logger.error("Extension servers failed to change", { err });
    });
    return this.#queue;
  }

  #cancelAll(): void {
    for (const t of this.#tried.values()) {
      if (t.timer !== undefined) this.#clock.clearTimeout(t.timer);
    }
    this.#tried.clear();
  }

  async #closeAll(): Promise<void> {
    this.#cancelAll();
    const all = [...this.#listeners.values()];
    this.#listeners.clear();
    await Promise.all(all.map((l) => l.close().catch(() => {})));
  }

  /** Closes the listeners of `names` and tries them again at once. */
  async #restart(names: readonly string[]): Promise<void> {
    for (const name of names) {
      const t = this.#tried.get(name);
      if (t?.timer !== undefined) this.#clock.clearTimeout(t.timer);
      this.#tried.delete(name);
      await this.#listeners.get(name)?.close().catch(() => {});
      this.#listeners.delete(name);
      // Failures in a row still count, and are logged only when their reason changes; the
      // waits start over.
      await this.#listen(name, t && { ...t, wait: RETRY_FIRST_MS, timer: undefined });
    }
  }

  /** Tries to serve `name` at its address; after a failure, tries again later. */
  async #listen(name: string, before?: Tried): Promise<void> {
    const address = this.#config[name]?.address ?? "";
    const hp = address ? splitHostPort(address) : undefined;
    if (!this.#running || !hp) return;
    try {
      const { cert, key } = await serverPair({
        dir: this.#dir,
        name,
        dedicated: this.#servers[name]?.dedicatedCertificate === true,
        now: wallNow(this.#clock),
        logger: this.#logger.child({ server: name }),
      });
      const listener = await serveHttps({
        host: hp.host,
        port: hp.port,
        cert,
        key,
        handler: this.#handlerFor(name),
        logger: this.#logger.child({ server: name }),
      });
      if (!this.#running) return void await listener.close();
      this.#listeners.set(name, listener);
      const t: Tried = { status: "listening", attempts: 0, wait: RETRY_FIRST_MS };
      this.#tried.set(name, t);
      if (before?.status === "failed") {
        this.#logger.info("Extension server listening", { server: name, address });
      }
      this.#watch(name, t, Date.parse(new X509Certificate(cert).validTo));
    } catch (err) {
      if (!this.#running) return;
      const { t, wait, news } = failedTry(before, err);
      if (news) {
        this.#logger.error("Extension server could not listen", {
          server: name,
          address,
          ...((err as FileError).file ? { file: (err as FileError).file } : {}),
          error: t.error,
          ...(isCohortError(err) ? {} : { err }),
        });
      }
      t.timer = this.#clock.setTimeout(() => {
        t.timer = undefined;
        void this.#serial(() => this.#again(name, t));
      }, wait);
      this.#tried.set(name, t);
    }
  }

  /**
   * Tries `name` again once its certificate expired at `expiry` (ms since the epoch, by the
   * member's wall clock): every client refuses it from then on (cohort's pinned ones too), and
   * a server that went on listening with it would look well while serving nobody. A pair of
   * its own is then refused (`expired at …`) and tried again until it is replaced; the
   * cluster's, served again, is not watched again.
   */
  #watch(name: string, t: Tried, expiry: number): void {
    const left = expiry - wallNow(this.#clock);
    if (!(left > 0)) return;
    t.timer = this.#clock.setTimeout(() => {
      t.timer = undefined;
      void this.#serial(async () => {
        if (this.#tried.get(name) !== t || !this.#running) return;
        if (wallNow(this.#clock) <= expiry) return this.#watch(name, t, expiry);
        this.#logger.warn("Extension server certificate expired", {
          server: name,
          address: this.#config[name]?.address,
          expired: new Date(expiry).toISOString(),
        });
        await this.#restart([name]);
      });
    }, Math.min(left + 1_000, WATCH_MAX_MS));
  }

  /** The try a timer of `t` asked for, unless the server was restarted or closed meanwhile. */
  async #again(name: string, t: Tried): Promise<void> {
    if (this.#tried.get(name) !== t || !this.#running) return;
    await this.#listen(name, t);
  }
}
