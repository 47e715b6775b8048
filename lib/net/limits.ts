/**
 * What one listener lets its clients hold: connections, request bytes buffered while a body is
 * read, and time. A client that exceeds its share gets a 429, all clients together a 503, a slow
 * one a 408, each with cohort's error envelope; far beyond a cap, connections are closed at once,
 * before any TLS handshake. Connections nobody has answered yet take turns: a few at a time are
 * read, the others wait unread. Nothing here knows endpoints: each endpoint says how large a body it
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
  /**
   * Connections not answered yet, at once: in their TLS handshake, or before the first answer on
   * them (or their WebSocket upgrade). A new connection beyond it is not read and waits (a turn
   * goes to the address with the fewest connections in theirs, its oldest connection first)
   * until one of these is answered or closes; after
   * `headersTimeoutMs` of waiting it is closed, unread (logged at most once a second). This
   * bounds what clients nobody knows yet can make the listener hold (a TLS state and the
   * first bytes read of each) whatever the number of connections.
   */
  maxPending: number;
  /** The same per peer: one peer can fill at most this many of the listener's turns. */
  maxPendingPerPeer: number;
  /**
   * Connections waiting for a turn, at once. Beyond it a new connection is closed before its
   * TLS handshake, unless another address has more connections waiting than its own: then the
   * newest of those is closed instead (an address opening a connection now and then is never
   * crowded out by one opening hundreds). Logged at most once a second.
   */
  maxWaiting: number;
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
 * in all leave room for clusters of hundreds. Unanswered connections: under Deno every TLS
 * connection leaves 50 to 130 KB (its TLS state, its reads copied on their way up) that only the
 * garbage collector gives back, which a member with a small heap runs rarely, so what bounds a
 * flood is how few of its connections reach TLS: 64 in their turn (16 per address leave room
 * for a client's burst of concurrent requests) and 128 waiting, cheap (no TLS, nothing read);
 * the rest are closed before TLS. A legitimate connection, answered in milliseconds, waits for
 * a turn about as long as that, and takes the next one whatever others keep waiting.
 */
export const HTTPS_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxConnections: 1024,
  maxConnectionsPerPeer: 64,
  maxPending: 64,
  maxPendingPerPeer: 16,
  maxWaiting: 128,
  maxBodyBytes: 256 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxBufferedBytesPerPeer: 1024 * 1024,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  discardBytes: 64 * 1024,
});

/**
 * The control socket's limits: one local peer (the socket's mode decides who that may be) whose
 * largest body is a SQL script (1 MiB of text, up to twice that once JSON-escaped). No TLS:
 * every connection admitted has its turn at once.
 */
export const UNIX_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxConnections: 256,
  maxConnectionsPerPeer: 256,
  maxPending: 512,
  maxPendingPerPeer: 512,
  maxWaiting: 512,
  maxBodyBytes: 2 * 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxBufferedBytesPerPeer: 16 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  discardBytes: 64 * 1024,
});

/** One connection as the guard tracks it. */
interface Connection {
  readonly socket: Socket;
  readonly peer: string;
  /** Why its requests are refused (it was admitted beyond a soft cap), if they are. */
  readonly refusal?: CohortError;
  /**
   * `waiting` for a turn (not read), `pending` (its turn: handshake, first request), `known`
   * (answered once, upgraded, or closed).
   */
  stage: "waiting" | "pending" | "known";
  /** Hands the connection on (to node:tls or node:http) once it has its turn. */
  start?: () => void;
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

/** A socket's libuv handle, to stop reading a connection that waits for its turn. */
type Handle = { readStop?(): unknown; reading?: boolean };

/**
 * Enforces {@link HttpLimits} for one listener. `serve.ts` reports each connection's events;
 * the adapter asks whether a connection's requests are refused and reserves body bytes.
 */
export class ListenerGuard {
  readonly limits: Readonly<HttpLimits>;
  readonly #logger: Logger;
  readonly #connections = new Budget(Infinity, Infinity);
  readonly #pending: Budget;
  readonly #bytes: Budget;
  /** Tracked connections by key: the socket itself, or `address|port` for TLS (see {@link key}). */
  readonly #tracked = new Map<unknown, Connection>();
  /** Connections waiting for a turn, per peer, oldest first; peers in turn order. */
  readonly #waiting = new Map<string, Connection[]>();
  #waitingCount = 0;
  readonly #lastLogged = { refused: 0, waited: 0, crowded: 0 };

  constructor(limits: Readonly<HttpLimits>, logger: Logger) {
    this.limits = limits;
    this.#logger = logger;
    this.#pending = new Budget(limits.maxPending, limits.maxPendingPerPeer);
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
   * An admitted connection is handed on with `start` at once when it has a turn
   * ({@link HttpLimits.maxPending}), else later; meanwhile it is not read.
   */
  admit(socket: Socket, start: () => void): boolean {
    const peer = peerOf(socket);
    const { maxConnections: all, maxConnectionsPerPeer: each } = this.limits;
    const open = this.#connections.total;
    const mine = this.#connections.count(peer);
    if (mine >= 2 * each || open >= 2 * all) {
      this.#note("refused", "Connections refused: over the limit", {
        peer,
        limit: mine >= 2 * each
          ? `per address (${2 * each} at once)`
          : `per listener (${2 * all} at once)`,
      });
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
    const c: Connection = { socket, peer, refusal, stage: "waiting" };
    this.#tracked.set(key, c);
    socket.once("close", () => {
      if (c.headTimer) clearTimeout(c.headTimer);
      this.#tracked.delete(key);
      this.#connections.give(peer, 1);
      this.#known(c);
    });
    if (!this.#waiting.has(peer) && this.#pending.take(peer, 1) === "ok") {
      c.stage = "pending";
      start();
      return true;
    }
    if (this.#waitingCount >= this.limits.maxWaiting && !this.#makeRoom(peer)) {
      c.stage = "known";
      return false;
    }
    // Not read while it waits: node:tls starts reading it when it takes it up.
    const handle = (socket as Socket & { _handle?: Handle | null })._handle;
    handle?.readStop?.();
    if (handle) handle.reading = false;
    c.start = start;
    const queue = this.#waiting.get(peer);
    if (queue) queue.push(c);
    else this.#waiting.set(peer, [c]);
    this.#waitingCount++;
    const ms = this.limits.headersTimeoutMs;
    c.headTimer = setTimeout(() => {
      c.headTimer = undefined;
      if (c.stage !== "waiting") return;
      this.#note("waited", "Connection closed unread: no turn within the head timeout", {
        peer,
        limit: `${this.limits.maxPending} unanswered connections at once, ` +
          `${this.limits.maxPendingPerPeer} per address, for ${ms / 1000} s`,
      });
      socket.destroy();
    }, ms);
    c.headTimer.unref?.();
    return true;
  }

  /**
   * The waiting room is full and `peer` wants in: closes the newest waiting connection of the
   * address with the most waiting, if that is another address with more than `peer` has.
   */
  #makeRoom(peer: string): boolean {
    let longest: Connection[] | undefined;
    for (const queue of this.#waiting.values()) {
      if (!longest || queue.length > longest.length) longest = queue;
    }
    const mine = this.#waiting.get(peer)?.length ?? 0;
    const limit = `${this.limits.maxWaiting} connections waiting for a turn at once`;
    if (!longest || longest.length <= mine + 1) {
      this.#note("crowded", "Connection refused: too many waiting for a turn", { peer, limit });
      return false;
    }
    const victim = longest.at(-1)!;
    this.#note("crowded", "Connection closed unread: too many waiting for a turn", {
      peer: victim.peer,
      limit,
    });
    this.#known(victim);
    victim.socket.destroy();
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

  /**
   * An answer is being written on `socket` (its head, before any body: a stream may last):
   * the connection's turn passes to a waiting one.
   */
  answering(socket: Socket): void {
    const c = this.#tracked.get(this.#key(socket));
    if (c) this.#known(c);
  }

  /** The connection left HTTP (a WebSocket upgrade): no more head deadlines, its turn passes. */
  upgraded(socket: Socket): void {
    this.requestStarted(socket);
    this.answering(socket);
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

  /** Connections not answered yet, and connections waiting for their turn (tests, metrics). */
  get unanswered(): { pending: number; waiting: number } {
    return { pending: this.#pending.total, waiting: this.#waitingCount };
  }

  /** Stops every head deadline and closes the connections still waiting (the listener closes). */
  close(): void {
    for (const c of this.#tracked.values()) {
      if (c.headTimer) clearTimeout(c.headTimer);
      if (c.stage === "waiting") c.socket.destroy();
    }
  }

  /** `c` is no longer unknown (answered, upgraded or closed): it leaves its turn or the queue. */
  #known(c: Connection): void {
    if (c.stage === "known") return;
    const was = c.stage;
    c.stage = "known";
    if (was === "waiting") {
      if (c.headTimer) clearTimeout(c.headTimer);
      c.headTimer = undefined;
      const queue = this.#waiting.get(c.peer)!;
      queue.splice(queue.indexOf(c), 1);
      if (queue.length === 0) this.#waiting.delete(c.peer);
      this.#waitingCount--;
      return;
    }
    this.#pending.give(c.peer, 1);
    this.#next();
  }

  /**
   * Gives free turns to waiting connections: each to the address with the fewest connections in
   * their turn (the first in line among equals), its oldest connection, and the address goes to
   * the back of the line. An address that opens one connection now and then (a client, a member)
   * takes the next turn however many connections others keep waiting.
   */
  #next(): void {
    const { maxPending, maxPendingPerPeer } = this.limits;
    while (this.#waitingCount > 0 && this.#pending.total < maxPending) {
      let chosen: string | undefined;
      let fewest = maxPendingPerPeer;
      for (const peer of this.#waiting.keys()) {
        const n = this.#pending.count(peer);
        if (n < fewest) [chosen, fewest] = [peer, n];
        if (n === 0) break;
      }
      if (chosen === undefined) return;
      this.#pending.take(chosen, 1);
      const queue = this.#waiting.get(chosen)!;
      const c = queue.shift()!;
      this.#waiting.delete(chosen); // to the back of the line
      if (queue.length > 0) this.#waiting.set(chosen, queue);
      this.#waitingCount--;
      if (c.headTimer) clearTimeout(c.headTimer);
      c.headTimer = undefined;
      c.stage = "pending";
      const start = c.start!;
      c.start = undefined;
      start();
    }
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

  /** Logs an event of a kind at most once a second (an attack would flood the log). */
  #note(
    kind: "refused" | "waited" | "crowded",
    message: string,
    fields: Record<string, unknown>,
  ): void {
    const now = Date.now();
    if (now - this.#lastLogged[kind] < 1000) return;
    this.#lastLogged[kind] = now;
    this.#logger.warn(message, fields);
  }
}
