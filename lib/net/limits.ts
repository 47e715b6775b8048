/**
 * What one listener lets its clients hold: connections, request bytes buffered while a body is
 * read, and time. A client that exceeds its share gets a 429, all clients together a 503, a slow
 * one a 408, each with cohort's error envelope; far beyond a cap, connections are closed at once,
 * before any TLS handshake. Nothing here knows endpoints: each endpoint says how large a body it
 * reads (`readRequestBody` in `node_request.ts`) and reads it only once it trusts the caller.
 *
 * @module
 */
import type { Socket } from "node:net";
import { TooManyRequestsError, UnavailableError } from "../errors.ts";
import type { CohortError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { rawErrorResponse } from "./json_response.ts";

/** The limits of one listener. Every count is per listener; "peer" means remote address. */
export interface HttpLimits {
  /**
   * Connections open at once. Beyond it, a connection's requests are answered 503 and it is
   * closed; beyond twice it, new connections are closed before their TLS handshake.
   */
  maxConnections: number;
  /** The same per peer, answered 429. */
  maxConnectionsPerPeer: number;
  /** The largest body any endpoint of the listener reads, in bytes (endpoints ask for less). */
  maxBodyBytes: number;
  /**
   * Bytes of request bodies being read at once, all peers together, reserved from each body's
   * declared length (or the endpoint's limit when it declares none). Beyond it: 503.
   */
  maxBufferedBytes: number;
  /** The same per peer. Beyond it: 429. */
  maxBufferedBytesPerPeer: number;
  /**
   * A request's head must have arrived this long after its connection was established (after
   * the TLS handshake) or after the previous answer on it, in ms; else the connection closes,
   * with a 408 when part of a head had arrived. The TLS handshake itself gets the same time.
   */
  headersTimeoutMs: number;
  /** A request's body must have arrived this long after its head, in ms; else 408. */
  bodyTimeoutMs: number;
  /**
   * A body an endpoint did not read (it refused the request first) is read and dropped after the
   * answer when at most this many bytes remain, so the connection stays usable; a larger one
   * closes the connection.
   */
  discardBytes: number;
}

/**
 * The network listener's limits. Bodies: the largest endpoint body over HTTPS is a join request
 * (a certificate and the joiner's extension list), 128 KiB; 256 KiB leaves room. Connections:
 * a member holds two or three to each other member, a client a handful; 64 per address and 1024
 * in all leave room for clusters of hundreds while 1 500 hostile connections cost a few MB.
 */
export const HTTPS_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxConnections: 1024,
  maxConnectionsPerPeer: 64,
  maxBodyBytes: 256 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxBufferedBytesPerPeer: 1024 * 1024,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  discardBytes: 64 * 1024,
});

/**
 * The control socket's limits: one local peer (the socket's mode decides who that may be) whose
 * largest body is a SQL script (1 MiB of text, up to twice that once JSON-escaped).
 */
export const UNIX_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxConnections: 256,
  maxConnectionsPerPeer: 256,
  maxBodyBytes: 2 * 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxBufferedBytesPerPeer: 16 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  discardBytes: 64 * 1024,
});

/** One connection as the guard tracks it. */
interface Connection {
  readonly peer: string;
  /** Why its requests are refused (it was admitted beyond a soft cap), if they are. */
  readonly refusal?: CohortError;
  headTimer?: ReturnType<typeof setTimeout>;
  /** `socket.bytesRead` when the connection started waiting for a head. */
  idleAt?: number;
}

/** A budget shared by all peers and split per peer. */
class Budget {
  #total = 0;
  readonly #perPeer = new Map<string, number>();
  constructor(readonly max: number, readonly maxPerPeer: number) {}
  /** Takes `n` for `peer`, or says which limit refuses it. */
  take(peer: string, n: number): "ok" | "peer" | "total" {
    const mine = this.#perPeer.get(peer) ?? 0;
    if (mine + n > this.maxPerPeer) return "peer";
    if (this.#total + n > this.max) return "total";
    this.#total += n;
    this.#perPeer.set(peer, mine + n);
    return "ok";
  }
  give(peer: string, n: number): void {
    this.#total -= n;
    const left = (this.#perPeer.get(peer) ?? 0) - n;
    if (left > 0) this.#perPeer.set(peer, left);
    else this.#perPeer.delete(peer);
  }
  count(peer: string): number {
    return this.#perPeer.get(peer) ?? 0;
  }
  get total(): number {
    return this.#total;
  }
}

/** The peer a socket belongs to: its remote address (IPv4-mapped IPv6 as IPv4), or `local`. */
export function peerOf(socket: Socket): string {
  const address = socket.remoteAddress;
  if (!address) return "local";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

/**
 * Enforces {@link HttpLimits} for one listener. `serve.ts` reports each connection's events;
 * the adapter asks whether a connection's requests are refused and reserves body bytes.
 */
export class ListenerGuard {
  readonly limits: Readonly<HttpLimits>;
  readonly #logger: Logger;
  readonly #connections = new Budget(Infinity, Infinity);
  readonly #bytes: Budget;
  /** Tracked connections by key: the socket itself, or `address|port` for TLS (see {@link key}). */
  readonly #tracked = new Map<unknown, Connection>();
  #refusedLogged = 0;

  constructor(limits: Readonly<HttpLimits>, logger: Logger) {
    this.limits = limits;
    this.#logger = logger;
    this.#bytes = new Budget(limits.maxBufferedBytes, limits.maxBufferedBytesPerPeer);
  }

  /**
   * A TLS socket and the TCP socket under it are different objects with the same remote
   * address and port: either finds the connection.
   */
  #key(socket: Socket): unknown {
    return socket.remotePort !== undefined
      ? `${socket.remoteAddress}|${socket.remotePort}`
      : socket;
  }

  /**
   * A new connection (the TCP socket, before any TLS handshake). Returns `false` when it must be
   * closed at once: twice a cap is reached. Between a cap and twice it, the connection is
   * admitted but its requests are answered 429 or 503 (cheap: it is closed after one answer).
   */
  admit(socket: Socket): boolean {
    const peer = peerOf(socket);
    const { maxConnections: all, maxConnectionsPerPeer: each } = this.limits;
    const open = this.#connections.total;
    const mine = this.#connections.count(peer);
    if (mine >= 2 * each || open >= 2 * all) {
      this.#noteRefusal(peer, mine >= 2 * each ? "peer" : "total");
      return false;
    }
    let refusal: CohortError | undefined;
    if (mine >= each) {
      refusal = new TooManyRequestsError(
        `Too many connections from this address (at most ${each} at once)`,
      );
    } else if (open >= all) {
      refusal = new UnavailableError(`Server busy: too many connections (at most ${all})`);
    }
    this.#connections.take(peer, 1);
    const key = this.#key(socket);
    this.#tracked.set(key, { peer, refusal });
    socket.once("close", () => {
      const c = this.#tracked.get(key);
      if (c?.headTimer) clearTimeout(c.headTimer);
      this.#tracked.delete(key);
      this.#connections.give(peer, 1);
    });
    return true;
  }

  /** The connection is ready for requests (TLS established, or a unix socket accepted). */
  ready(socket: Socket): void {
    this.#awaitHead(socket);
  }

  /** A request head arrived on `socket`: returns why it is refused, if it is. */
  requestStarted(socket: Socket): CohortError | undefined {
    const c = this.#tracked.get(this.#key(socket));
    if (c?.headTimer) clearTimeout(c.headTimer);
    if (c) c.headTimer = undefined;
    return c?.refusal;
  }

  /** The connection left HTTP (a WebSocket upgrade): no more head deadlines. */
  upgraded(socket: Socket): void {
    this.requestStarted(socket);
  }

  /** An answer was written on `socket`; the next request's head has the usual time. */
  responded(socket: Socket): void {
    if (!socket.destroyed) this.#awaitHead(socket);
  }

  /**
   * Reserves `bytes` of body buffer for `peer` until the returned function is called.
   *
   * @throws {TooManyRequestsError} when the peer's share is used up
   * @throws {UnavailableError} when the listener's is
   */
  reserve(peer: string, bytes: number): () => void {
    const verdict = this.#bytes.take(peer, bytes);
    if (verdict === "peer") {
      throw new TooManyRequestsError(
        `Too many request bodies in flight from this address (at most ${this.limits.maxBufferedBytesPerPeer} bytes at once)`,
      );
    }
    if (verdict === "total") {
      throw new UnavailableError("Server busy: too many request bodies in flight");
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#bytes.give(peer, bytes);
    };
  }

  /** Body bytes reserved right now (for tests and metrics). */
  get bufferedBytes(): number {
    return this.#bytes.total;
  }

  /** Connections open right now (for tests and metrics). */
  get connections(): number {
    return this.#connections.total;
  }

  /** Stops every head deadline (the listener is closing). */
  close(): void {
    for (const c of this.#tracked.values()) if (c.headTimer) clearTimeout(c.headTimer);
  }

  #awaitHead(socket: Socket): void {
    const c = this.#tracked.get(this.#key(socket));
    if (!c) return;
    if (c.headTimer) clearTimeout(c.headTimer);
    const ms = this.limits.headersTimeoutMs;
    c.idleAt = socket.bytesRead;
    c.headTimer = setTimeout(() => {
      c.headTimer = undefined;
      if (socket.destroyed) return;
      // Nothing arrived: an idle connection is closed without a word (a client may be sending
      // its next request this very moment: it must not read a 408 as the answer to it).
      if (socket.bytesRead === c.idleAt) return void socket.destroy();
      socket.end(rawErrorResponse(408, `Request headers not received within ${ms / 1000} s`));
      const kill = setTimeout(() => socket.destroy(), 1000);
      kill.unref?.();
    }, ms);
    c.headTimer.unref?.();
  }

  /** Logs refused connections at most once per second's worth of them (an attack floods logs). */
  #noteRefusal(peer: string, which: "peer" | "total"): void {
    const now = Date.now();
    if (now - this.#refusedLogged < 1000) return;
    this.#refusedLogged = now;
    this.#logger.warn("Connections refused: over the limit", {
      peer,
      limit: which === "peer" ? "per address" : "per listener",
    });
  }
}
