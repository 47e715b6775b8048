/**
 * What one listener lets its clients hold: connections, request bytes buffered while a body is
 * read, and time. A client that exceeds its share gets a 429, all clients together a 503, a slow
 * one a 408, each with cohort's error envelope; far beyond a cap, connections are closed at once,
 * before any TLS handshake. Connections nobody has answered yet take turns: a few at a time are
 * read, the others wait unread (`waiting_room.ts`). Nothing here knows endpoints: each endpoint
 * says how large a body it reads (`readRequestBody` in `node_request.ts`) and reads it only once
 * it trusts the caller.
 *
 * Connections are counted per remote address until a TLS client certificate proves one a
 * cluster member's (the listener is told who is one, `isMember`): from then on it counts under
 * that member's certificate ({@link HttpLimits.maxConnectionsPerMember}). Before its handshake
 * nobody is known: the turns, the waiting room and the closing of connections far beyond a cap
 * stay per address for every connection, and a stranger (no certificate, or one no member has)
 * is held to exactly the per-address rules.
 *
 * @module
 */
import type { Socket } from "node:net";
import { monotonicNow } from "../cluster/monotonic_now.ts";
import { TooManyRequestsError, UnavailableError } from "../errors.ts";
import type { CohortError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { Budget } from "./budget.ts";
import type { HttpLimits } from "./http_limits.ts";
import { rawErrorResponse } from "./json_response.ts";
import { type Deadline, deadlineIn } from "./late_deadline.ts";
import { peerFingerprint } from "./pin.ts";
import { type Turn, WaitingRoom } from "./waiting_room.ts";

export { type HttpLimits, HTTPS_LIMITS, UNIX_LIMITS } from "./http_limits.ts";

/** Whether a client certificate (lowercase hex SHA-256 fingerprint) is a cluster member's. */
export type MemberCheck = (fingerprint: string) => boolean;

/**
 * Prefix of the key a member's connections are counted under (an address never starts so).
 */
const MEMBER = "member ";

/** One connection as the guard tracks it (its turns: see `waiting_room.ts`). */
interface Connection extends Turn {
  /** What it counts under: `peer`, or its member's key once its certificate proved it one's. */
  counted: string;
  /** Why its requests are refused (it was admitted beyond a soft cap), if they are. */
  refusal?: CohortError;
  /** The cap `refusal` stems from. */
  refusedBy?: "address" | "listener" | "member";
  /** Its handshake's deadline once it has its turn, then its next head's (`late_deadline.ts`). */
  headTimer?: Deadline;
  /** `socket.bytesRead` when the connection started waiting for a head. */
  idleAt?: number;
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
  readonly #isMember?: MemberCheck;
  /** Open connections by what they count under: an address, or {@link MEMBER} + fingerprint. */
  readonly #connections = new Budget(Infinity, Infinity);
  readonly #room: WaitingRoom;
  readonly #bytes: Budget;
  /** Tracked connections by key: the socket itself, or `address|port` for TLS (see {@link key}). */
  readonly #tracked = new Map<unknown, Connection>();
  readonly #lastLogged = { refused: 0, waited: 0, crowded: 0 };

  /**
   * @param isMember tells a cluster member's client certificate (see the module docs); without
   *   it every connection counts under its address
   */
  constructor(limits: Readonly<HttpLimits>, logger: Logger, isMember?: MemberCheck) {
    this.limits = limits;
    this.#logger = logger;
    this.#isMember = isMember;
    this.#room = new WaitingRoom(limits, (kind, message, fields) => {
      this.#note(kind, message, fields);
    });
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
    const c: Connection = { socket, peer, counted: peer, stage: "waiting" };
    if (mine >= each) {
      c.refusal = new TooManyRequestsError(
        `Too many connections from this address (at most ${each} at once)`,
      );
      c.refusedBy = "address";
    } else if (open >= all) {
      c.refusal = new UnavailableError(`Server busy: too many connections (at most ${all})`);
      c.refusedBy = "listener";
    }
    this.#connections.take(peer, 1);
    const key = this.#key(socket);
    this.#tracked.set(key, c);
    socket.once("close", () => {
      c.headTimer?.clear();
      this.#tracked.delete(key);
      this.#connections.give(c.counted, 1);
      this.#room.leave(c);
    });
    return this.#room.enter(c, () => this.#begin(c, start));
  }

  /**
   * The connection is ready for requests (TLS established, or a unix socket accepted). A
   * member's connection moves to its member's count here, or is closed beyond twice that cap.
   */
  ready(socket: Socket): void {
    if (this.#isMember && !this.#countAsMember(socket, this.#isMember)) return;
    // Any byte already read is a head begun: Deno reports a TLS connection ready only after
    // reading what the client sent with its handshake.
    this.#awaitHead(socket, 0);
  }

  /**
   * Counts a connection whose client certificate is a member's under that member instead of
   * its address; its requests are then refused only by the member's cap (or, when it was
   * admitted beyond it, the listener's). Returns `false` when it was closed: the member already
   * holds twice its cap. The certificate is proven by the handshake (the client signed it with
   * the certificate's key), as every member endpoint's own check of it is.
   */
  #countAsMember(socket: Socket, isMember: MemberCheck): boolean {
    const c = this.#tracked.get(this.#key(socket));
    if (!c || c.counted !== c.peer) return true;
    const fingerprint = peerFingerprint(socket);
    if (fingerprint === undefined || !isMember(fingerprint)) return true;
    const member = MEMBER + fingerprint;
    const each = this.limits.maxConnectionsPerMember;
    const mine = this.#connections.count(member);
    if (mine >= 2 * each) {
      this.#note("refused", "Connections refused: over the limit", {
        peer: c.peer,
        fingerprint,
        limit: `per member (${2 * each} at once)`,
      });
      socket.destroy();
      return false;
    }
    this.#connections.give(c.peer, 1);
    this.#connections.take(member, 1);
    c.counted = member;
    if (c.refusedBy === "listener") return true;
    if (mine >= each) {
      c.refusal = new TooManyRequestsError(
        `Too many connections from this member (at most ${each} at once)`,
      );
      c.refusedBy = "member";
    } else {
      c.refusal = undefined;
      c.refusedBy = undefined;
    }
    return true;
  }

  /** A request head arrived on `socket`: returns why it is refused, if it is. */
  requestStarted(socket: Socket): CohortError | undefined {
    const c = this.#tracked.get(this.#key(socket));
    c?.headTimer?.clear();
    if (c) c.headTimer = undefined;
    return c?.refusal;
  }

  /**
   * An answer is being written on `socket` (its head, before any body: a stream may last):
   * the connection's turn passes to a waiting one.
   */
  answering(socket: Socket): void {
    const c = this.#tracked.get(this.#key(socket));
    if (c) this.#room.leave(c);
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
    return { pending: this.#room.pending, waiting: this.#room.waiting };
  }

  /** Stops every head deadline and closes the connections still waiting (the listener closes). */
  close(): void {
    for (const c of this.#tracked.values()) c.headTimer?.clear();
    this.#room.close();
  }

  /**
   * Hands `c` on: its TLS handshake (none on a unix socket) must be done within the head
   * timeout, then `ready` gives its head the same time. Timed here rather than by node:tls's
   * `handshakeTimeout`, whose timer a held loop ran before it read a ClientHello that had
   * arrived in time (late_deadline.ts).
   */
  #begin(c: Connection, start: () => void): void {
    c.headTimer = deadlineIn(this.limits.headersTimeoutMs, () => {
      c.headTimer = undefined;
      c.socket.destroy();
    });
    start();
  }

  #awaitHead(socket: Socket, idleAt = socket.bytesRead): void {
    const c = this.#tracked.get(this.#key(socket));
    if (!c) return;
    c.headTimer?.clear();
    const ms = this.limits.headersTimeoutMs;
    c.idleAt = idleAt;
    // A loop that was held (a stalled machine, a member stopped and continued, a long task)
    // may run its expired timers before it reads the sockets again: a deadline met late gets
    // a short look more (late_deadline.ts), so that a request that arrived in time is served.
    c.headTimer = deadlineIn(ms, () => {
      c.headTimer = undefined;
      if (socket.destroyed) return;
      // Nothing arrived: an idle connection is closed without a word (a client may be sending
      // its next request this very moment: it must not read a 408 as the answer to it).
      if (socket.bytesRead === c.idleAt) return void socket.destroy();
      socket.end(rawErrorResponse(408, `Request headers not received within ${ms / 1000} s`));
      const kill = setTimeout(() => socket.destroy(), 1000);
      kill.unref?.();
    });
  }

  /** Logs an event of a kind at most once a second (an attack would flood the log). */
  #note(
    kind: "refused" | "waited" | "crowded",
    message: string,
    fields: Record<string, unknown>,
  ): void {
    const now = monotonicNow(); // a step back of the wall clock silenced the log for its length
    if (now - this.#lastLogged[kind] < 1000) return;
    this.#lastLogged[kind] = now;
    this.#logger.warn(message, fields);
  }
}
