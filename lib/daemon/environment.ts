/**
 * What a member takes from the world besides its options: time and timers, randomness, how it
 * reaches other members, and how it listens. {@link systemEnvironment} is the real one (the
 * system clock, HTTPS, a control socket); {@link memoryEnvironment} runs a whole member in one
 * process on a simulated clock, with {@link MemoryPeers} for requests between members (with the
 * gossip layer's in-memory transport and a `:memory:` store, nothing touches the network).
 *
 * @module
 */
import { lookup as dnsLookup } from "node:dns";
import { createServer, type Server as HttpsServer } from "node:https";
import process from "node:process";
import type { HostLookup } from "../cluster/address_conflict.ts";
import type { Clock } from "../cluster/clock.ts";
import { monotonicClock } from "../cluster/monotonic_clock.ts";
import type { Logger } from "../log.ts";
import type { CertificateIssuer } from "../net/cert_issuer.ts";
import { deadlineIn } from "../net/late_deadline.ts";
import { joinHostPort } from "../net/names.ts";
import { probeListen, serveHttps } from "../net/serve.ts";
import type { MemoryPeers } from "./memory_peers.ts";
import type { Handler } from "./options.ts";
import { httpsPeers, type PeerTransport } from "./peers.ts";

/** What {@link DaemonEnvironment.listen} is asked to serve. */
export interface ListenOptions {
  host: string;
  port: number;
  /** `host:port`. */
  address: string;
  /** The certificate and key presented (the cluster's, PEM). */
  cert: string;
  key: string;
  handler: Handler;
  logger: Logger;
  /**
   * Whether a client certificate fingerprint is a cluster member's: the listener counts a
   * member's connections under its certificate, not its address (`serveHttps`'s `isMember`).
   */
  isMember?: (fingerprint: string) => boolean;
}

/** A member's network listener. */
export interface NetListener {
  /** The HTTPS server the gossip layer's WebSocket endpoint is mounted on. */
  readonly server: HttpsServer;
  close(): Promise<void>;
}

/** The world of one member; see the module docs. */
export interface DaemonEnvironment {
  /**
   * Time and every timer of the member. `now()` is for durations and deadlines inside this
   * process, and monotonic in the real world (a step of the wall clock, NTP or `date -s` or a
   * VM resumed, must not cut a join's deadline short or drop a joiner as under way for 10 min);
   * a date (a token's expiry, `joinedAt`, a removal note's `expiresAt`, a record's version,
   * anything stored or sent to another member) is `wallNow(clock)` (`lib/cluster/clock.ts`).
   * A simulated clock without `wallOffset` is both. The real one's timers, met clearly late by a
   * held loop, read what arrived meanwhile before they call back (`monotonicClock`): most of a
   * member's timers are verdicts on what has not arrived.
   */
  clock: Clock;
  /** A float in [0, 1) (the update command's random delay). */
  random: () => number;
  /** Requests to other members. */
  peers: PeerTransport;
  /** Serves the member's API on its address. */
  listen(options: ListenOptions): Promise<NetListener>;
  /**
   * Rejects as {@link listen} would for `host:port`, without keeping it: a join asks before it
   * spends its token, so a port in use fails the join with the token still good. Without it, the
   * join learns it only once admitted (the token spent).
   */
  canListen?(host: string, port: number): Promise<void>;
  /** Whether the member serves its control socket (`DIR/control.socket`). */
  controlSocket: boolean;
  /**
   * Where key pairs are made for an initialisation after the first (a member that was reset and
   * joins again), and for the first when the options give no issuer. @default a certificate
   * child process (`startCertificateProcess`)
   */
  issuer?: () => CertificateIssuer;
  /**
   * This process's CPU time so far (user and system), ms: logged beside the wall time of a
   * restart's steps. Absent in a simulated world, whose logs must replay exactly.
   */
  cpuMs?: () => number;
  /**
   * Resolves a host name to its IP addresses, to tell whether a joiner's address names an
   * existing member's socket under another name (`lib/cluster/address_conflict.ts`). Absent in a
   * simulated world: host names are then compared as written.
   */
  lookup?: HostLookup;
}

/** How long a host name's resolution may take before it counts as resolving to nothing, ms. */
export const LOOKUP_MS = 2000;

/**
 * Resolves `host` with the system's resolver, every family, at most {@link LOOKUP_MS}. The bound
 * is a late-aware deadline (`lib/net/late_deadline.ts`): a loop held past it (a member stopped
 * and continued) reads the resolver's answer, done meanwhile, before judging that the name
 * resolves to nothing.
 */
function systemLookup(host: string): Promise<readonly string[]> {
  return new Promise((resolve) => {
    const deadline = deadlineIn(LOOKUP_MS, () => resolve([]));
    dnsLookup(host, { all: true }, (err, addresses) => {
      deadline.clear();
      resolve(err ? [] : addresses.map((a) => a.address));
    });
  });
}

/** This process's CPU time (user and system), ms. */
function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return Math.round((user + system) / 1000);
}

/**
 * The real world: the system's clocks (`monotonicClock`: durations on the monotonic clock, dates
 * on the wall clock), HTTPS with mutual TLS, a control socket.
 */
export const systemEnvironment: DaemonEnvironment = Object.freeze({
  clock: monotonicClock,
  random: Math.random,
  peers: httpsPeers,
  listen: (o: ListenOptions) =>
    serveHttps({
      host: o.host,
      port: o.port,
      cert: o.cert,
      key: o.key,
      handler: o.handler,
      logger: o.logger,
      isMember: o.isMember,
    }) as Promise<NetListener>,
  canListen: probeListen,
  controlSocket: true,
  cpuMs: processCpuMs,
  lookup: systemLookup,
});

/**
 * A world in one process: `clock` (e.g. the gossip layer's `SimClock`), `random`, and `peers`
 * for requests between the members of one simulation; no socket is opened. Pass a gossip
 * factory on the in-memory transport and `databaseUrl: ":memory:"` in the options.
 */
export function memoryEnvironment(
  peers: MemoryPeers,
  clock: Clock,
  random: () => number,
): DaemonEnvironment {
  return {
    clock,
    random,
    peers,
    controlSocket: false,
    canListen(host: string, port: number): Promise<void> {
      try {
        peers.checkFree(joinHostPort(host, port));
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err);
      }
    },
    listen(o: ListenOptions): Promise<NetListener> {
      const stop = peers.listen(o.address, o.cert, o.handler);
      // Never listening: it only satisfies the gossip factory's contract, which the in-memory
      // transport ignores.
      const server = createServer();
      return Promise.resolve({
        server,
        close: () => Promise.resolve(stop()),
      });
    },
  };
}
