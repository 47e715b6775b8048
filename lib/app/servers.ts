/**
 * The app's extension servers (MicroCluster's additional listeners, `rest.Server`): named groups
 * of app endpoints, each served on an address of its own by a `node:https` listener of its own,
 * presenting the cluster's certificate, or its own (`dedicatedCertificate`: a self-signed pair
 * created at first use in `STATE_DIR/certificates/NAME.crt|key`, each file landing whole or not
 * at all; a pair placed there by hand is used as it is, dedicated or not, and one that does not
 * hold together is refused, naming the file).
 *
 * A server listens while the member is initialised (online, or waiting for an upgrade: its
 * endpoints' flags decide what it answers then), at the address last set by
 * `PUT /core/1.0/daemon/servers` (kept in `STATE_DIR/servers.json`), else the one the app gave.
 * A server without an address is not served. `GET /core/1.0/daemon/servers` lists the addresses
 * as `{"NAME":{"address":"host:port"}}`, MicroCluster's JSON. Addresses follow the rule of member
 * addresses (`parseAddress`): kept, listed and compared in their one spelling, so that no two
 * servers, nor a server and the member, are given one address in two spellings.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { addressProblem, canonicalAddress, splitHostPort } from "../cluster/address.ts";
import { parseStoredAddress, storedAddress } from "../cluster/address_stored.ts";
import { InvalidInputError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { generateCertificate, parsePemPair } from "../net/certificates.ts";
import { type Listener, serveHttps } from "../net/serve.ts";
import type { Handler } from "../daemon/options.ts";
import { writeDurablyAsync } from "../write_durably.ts";
import type { MemberStatus } from "../daemon/service.ts";
import { type AppEndpoint, checkEndpoints } from "./endpoints.ts";

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

/** What the `daemon/servers` routes ask of the member. */
export interface ServersSource {
  /** Each server's address, by name. */
  get(): Record<string, ServerConfig>;
  /**
   * Sets the addresses of the named servers (the others keep theirs), writes them to the state
   * directory, and restarts the listeners that changed.
   *
   * @throws {InvalidInputError} for an unknown name, an invalid address, or one already in use
   */
  set(config: Record<string, ServerConfig>): Promise<void>;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Checks the app's servers (names, endpoints, addresses; no two at one address, in whatever
 * spellings the app gives it).
 *
 * @throws {InvalidInputError} naming the server and the rule it breaks
 */
export function checkServers(servers: Readonly<Record<string, AppServer>>): void {
  const holders = new Map<string, string>();
  for (const [name, s] of Object.entries(servers)) {
    const field = `servers.${name}`;
    if (!NAME.test(name) || name === "core" || name === "unix") {
      throw new InvalidInputError(
        `${field}: a server name is a DNS label (lowercase letters, digits, inner hyphens), not "core" or "unix"`,
        { field },
      );
    }
    checkEndpoints(s.endpoints, `${field}.endpoints`);
    if (s.address !== undefined && s.address !== "") {
      const problem = addressProblem(s.address);
      if (problem) {
        throw new InvalidInputError(`${field}.address: ${problem}`, { field: `${field}.address` });
      }
      // Both would be taken, and the second would never listen (a log line only).
      const one = canonicalAddress(s.address)!;
      const holder = holders.get(one);
      if (holder !== undefined) {
        throw new InvalidInputError(
          `${field}.address: ${one} is also the address of server "${holder}"`,
          { field: `${field}.address` },
        );
      }
      holders.set(one, name);
    }
  }
}

/** The listeners of the app's servers; see the module docs. */
export class ExtensionServers implements ServersSource {
  readonly #dir: string;
  readonly #servers: Readonly<Record<string, AppServer>>;
  readonly #handlerFor: (name: string) => Handler;
  readonly #logger: Logger;
  readonly #memberAddress: () => string;
  #config: Record<string, ServerConfig>;
  readonly #listeners = new Map<string, Listener>();
  #running = false;
  /** Starts and stops run one after the other. */
  #queue: Promise<void> = Promise.resolve();

  constructor(o: {
    /** The member's state directory. */
    dir: string;
    servers: Readonly<Record<string, AppServer>>;
    /** The handler serving server `name`'s endpoints. */
    handlerFor: (name: string) => Handler;
    /** The member's own address (no server may take it). */
    memberAddress: () => string;
    logger: Logger;
  }) {
    this.#dir = o.dir;
    this.#servers = o.servers;
    this.#handlerFor = o.handlerFor;
    this.#memberAddress = o.memberAddress;
    this.#logger = o.logger;
    const stored = readStored(join(o.dir, "servers.json"));
    this.#config = {};
    for (const [name, s] of Object.entries(o.servers)) {
      const given = s.address ? canonicalAddress(s.address) ?? s.address : "";
      this.#config[name] = { address: stored[name]?.address ?? given };
    }
  }

  get(): Record<string, ServerConfig> {
    return structuredClone(this.#config);
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
    this.#config = next;
    await mkdir(this.#dir, { recursive: true });
    const path = join(this.#dir, "servers.json");
    await writeDurablyAsync(this.#dir, path, JSON.stringify(next, null, 2) + "\n");
    this.#logger.info("Extension servers changed", { servers: changed });
    if (this.#running) await this.#serial(() => this.#restart(changed));
  }

  /** Follows the member's status: listening while it is online or waiting. */
  follow(status: MemberStatus): Promise<void> {
    const run = status === "online" || status === "waiting";
    if (run === this.#running) return this.#queue;
    this.#running = run;
    return this.#serial(() => run ? this.#restart(Object.keys(this.#servers)) : this.#closeAll());
  }

  /** Closes every listener. */
  close(): Promise<void> {
    this.#running = false;
    return this.#serial(() => this.#closeAll());
  }

  #serial(step: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(step, step).catch((err) => {
      this.#logger.error("Extension servers failed to change", { err });
    });
    return this.#queue;
  }

  async #closeAll(): Promise<void> {
    const all = [...this.#listeners.values()];
    this.#listeners.clear();
    await Promise.all(all.map((l) => l.close().catch(() => {})));
  }

  async #restart(names: readonly string[]): Promise<void> {
    for (const name of names) {
      await this.#listeners.get(name)?.close().catch(() => {});
      this.#listeners.delete(name);
      if (!this.#running) continue;
      const address = this.#config[name]?.address ?? "";
      const hp = address ? splitHostPort(address) : undefined;
      if (!hp) continue;
      try {
        const { cert, key } = await this.#certificate(name);
        this.#listeners.set(
          name,
          await serveHttps({
            host: hp.host,
            port: hp.port,
            cert,
            key,
            handler: this.#handlerFor(name),
            logger: this.#logger.child({ server: name }),
          }),
        );
      } catch (err) {
        this.#logger.error("Extension server could not listen", { server: name, address, err });
      }
    }
  }

  /**
   * The pair server `name` presents. A dedicated pair is made at first use, each file replaced
   * whole or not at all (`writeDurablyAsync`): written in place, a full disk left the key and an
   * empty certificate, which every later start read back, so the server never listened again.
   * A pair found that does not hold together (cut short by an earlier release, or a crash) is
   * refused naming the file, never replaced: clients may pin the certificate it was.
   */
  async #certificate(name: string): Promise<{ cert: string; key: string }> {
    const dir = join(this.#dir, "certificates");
    const certPath = join(dir, `${name}.crt`);
    const keyPath = join(dir, `${name}.key`);
    if (existsSync(certPath) && existsSync(keyPath)) {
      const [cert, key] = await Promise.all([
        readFile(certPath, "utf8"),
        readFile(keyPath, "utf8"),
      ]);
      checkPair(certPath, cert, keyPath, key);
      return { cert, key };
    }
    if (this.#servers[name]?.dedicatedCertificate) {
      const pair = await generateCertificate({ name });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeDurablyAsync(dir, keyPath, pair.key, 0o600);
      await writeDurablyAsync(dir, certPath, pair.cert, 0o644);
      return pair;
    }
    const [cert, key] = await Promise.all(
      ["cluster.crt", "cluster.key"].map((f) => readFile(join(this.#dir, f), "utf8")),
    );
    return { cert: cert!, key: key! };
  }
}

/**
 * Throws an {@link InvalidInputError} naming the file when `cert` (from `certPath`) is not a PEM
 * certificate, `key` (from `keyPath`) not a PEM private key, or the key not the certificate's.
 */
function checkPair(certPath: string, cert: string, keyPath: string, key: string): void {
  const { matches } = parsePemPair({ cert, key }, (file) =>
    new InvalidInputError(
      file === "crt"
        ? `${certPath} is not a PEM certificate (cut short?): replace it, or remove it and ` +
          `${basename(keyPath)} to have a new pair made`
        : `${keyPath} is not a PEM private key (cut short?): replace it`,
    ));
  if (!matches) throw new InvalidInputError(`${keyPath} is not the key of ${certPath}`);
}

/**
 * The addresses `PUT` kept in `servers.json`, each in its one spelling: an earlier release kept
 * them as typed (`127.0.0.1:08443`), and dropping one now refused would move its server back to
 * the app's default.
 */
function readStored(path: string): Record<string, ServerConfig> {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    const out: Record<string, ServerConfig> = {};
    for (const [name, c] of Object.entries(parsed)) {
      const address = (c as { address?: unknown })?.address;
      if (typeof address !== "string") continue;
      const one = address === "" ? "" : parseStoredAddress(address)?.address;
      if (one !== undefined) out[name] = { address: one };
    }
    return out;
  } catch {
    return {};
  }
}
