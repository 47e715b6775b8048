/**
 * The gossip {@link Transport} over WebSockets (`ws`, the same code in Node and Deno) on the
 * member's own `node:https` listener, path {@link GOSSIP_PATH}, with mutual TLS.
 *
 * A member dials a peer when it has a frame for it and no connection to carry it (one per peer
 * address, reused, closed when idle), and keeps its connections to the members it probes open
 * through a whole probe cycle (see {@link keepOpenFor}): dialling costs both ends a TLS
 * handshake, several times the CPU of the probe it carries. The `from` of an inbound frame is the
 * listening address the authenticated dialler advertised in {@link ADDRESS_HEADER}; any trusted
 * member may advertise any address, so the engine must not treat `from` as proof of identity.
 * The proof is the third argument of `message`: the fingerprint of the client certificate the
 * dialler authenticated with.
 *
 * Shared connections: a pair of members holds one connection, not one each way (each costs both
 * ends some 100 KB of memory, and at N members a member held 2 × (N − 1) of them). The listener
 * proves its member identity to the dialler in the upgrade answer (`link_proof.ts`); once the
 * dialler accepted the proof, the listener sends its frames to the dialler's member over that
 * connection instead of dialling back, provided the member table (`addressOf`) says the
 * certificate's member lives at the address the connection advertised. Frames the dialler reads
 * there are from the certificate proven, and pass the same per-sender bounds as frames read on
 * accepted connections. When both members dialled at once, both send on the connection the
 * member with the lower address dialled, and the other one is closed at the next sweep it was
 * not used. A member without this (`share: false`, or an older release) neither asks for nor
 * answers the proof, and its connections stay one-way.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage, Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { setImmediate } from "node:timers";
import WebSocket, { WebSocketServer } from "ws";
import type { RawData } from "ws";
import type {
  Frame,
  SendOptions,
  Transport,
  TransportHandlers,
} from "../lib/cluster/membership.ts";
import type { Logger } from "../lib/log.ts";
import { fingerprint as certFingerprint } from "../lib/net/certificates.ts";
import { peerFingerprint, pinnedTlsOptions } from "../lib/net/pin.ts";
import type { PinnedTlsOptions } from "../lib/net/pin.ts";
import {
  HandlingBudget,
  type InboundRate,
  PeerRateLimiter,
  RATE_LOG_MS,
  SMALL_FRAME_BYTES,
} from "./frame_rate.ts";
import { InboundLimit, MAX_INBOUND_PER_CERTIFICATE } from "./inbound_limit.ts";
import {
  isShareNonce,
  provenFingerprint,
  SHARE_CERT_HEADER,
  SHARE_CONFIRM,
  SHARE_HEADER,
  SHARE_PROOF_HEADER,
  shareNonce,
  shareProver,
} from "./link_proof.ts";
import { MAX_FRAME_BYTES } from "./messages.ts";

/** The HTTP path gossip connections upgrade on. */
export const GOSSIP_PATH = "/core/internal/gossip";
/** Request header in which a dialler advertises its own listening address (`host:port`). */
export const ADDRESS_HEADER = "x-cohort-address";
/** A `reliable` frame may exceed the high-water mark, but not this multiple of it. */
export const RELIABLE_FACTOR = 4;

/** Options of {@link createWsTransport}. */
export interface WsTransportOptions {
  /** The member's listener (`Listener.server` of `serveHttps`); gets an `upgrade` listener. */
  server: HttpsServer | HttpServer;
  /** Our advertised listening address, `host:port` (IPv6 bracketed). */
  address: string;
  /** Our certificate (PEM), presented as the client certificate when dialling. */
  cert: string;
  /** Its private key (PEM). */
  key: string;
  /** Fingerprint of the certificate every member's listener presents (the cluster's). */
  serverFingerprint: string;
  /** That certificate (PEM) when known: pinned as the only CA instead of a custom handshake. */
  serverCert?: string;
  /** Whether a client certificate fingerprint (lowercase hex) belongs to the trust set. */
  isTrusted(fingerprint: string): boolean;
  logger: Logger;
  /**
   * Largest frame sent or accepted, in bytes (ws `maxPayload` both ways: a larger frame closes
   * its connection before its payload is read). @default {@link MAX_FRAME_BYTES} (384 KiB)
   */
  maxFrameBytes?: number;
  /**
   * High-water mark per outbound connection, in bytes (queued while connecting plus ws's
   * `bufferedAmount`). A frame that would cross it is dropped unless `reliable`; a reliable one
   * only when it would cross {@link RELIABLE_FACTOR} times the mark. An empty buffer takes any
   * frame, so at most `max(RELIABLE_FACTOR × mark, maxFrameBytes)` is ever buffered.
   * @default 1048576
   */
  maxBufferedBytes?: number;
  /**
   * An outbound connection no frame was sent on for this long is closed, in ms (within 1.5×
   * that), unless `keepOpenMs` keeps it longer. The transport checks its connections every half
   * of this period (at most every 15 s): an outbound one is pinged every second check (every
   * fourth while frames flow on it) and dropped when the previous ping went unanswered; an
   * inbound one that received neither a frame nor a ping for six checks is closed (its dialler
   * closes first). @default 30000
   */
  idleCloseMs?: number;
  /**
   * How long an unused outbound connection is kept open, in ms, read at every check: the
   * larger of this and `idleCloseMs` applies, to the `maxKeptOpen` most recently used
   * connections (the others close after `idleCloseMs`). A member passes {@link keepOpenFor}
   * its probe cycle, so a connection to a member it probes (and answers) is not closed between
   * two probes. @default () => 0
   */
  keepOpenMs?: () => number;
  /**
   * At most this many outbound connections are kept open past `idleCloseMs`: one to each
   * member of a cluster of up to 121, the size up to which {@link keepOpenFor}'s cap lets a
   * connection last 2.5 probe cycles at the `lan` probe interval (1 s). A listener counts a
   * member's connections under its certificate, not its address, so members on one host do
   * not crowd each other out. @default 120
   */
  maxKeptOpen?: number;
  /**
   * The listening address of the member whose client certificate has this fingerprint, as the
   * member table holds it (`undefined` when unknown). With it, frames to a member go over the
   * connection that member dialled, when it shares it (see the module's "Shared connections");
   * without it, only over connections this transport dialled.
   */
  addressOf?: (fingerprint: string) => string | undefined;
  /**
   * Whether connections are shared: dials ask listeners to prove who they are, and the listener
   * answers such asks. `false` behaves as members did before sharing. @default true
   */
  share?: boolean;
  /** Deadline for TCP + TLS + WebSocket handshake when dialling, in ms. @default 5000 */
  connectTimeoutMs?: number;
  /**
   * Bound on the frames and bytes each sender (client certificate, over all its connections)
   * gets read: beyond it frames are dropped, counted in `rateLimited`, and the connection is
   * not read until the sender's budget refills (see `frame_rate.ts`; `inboundRateFor(config)`
   * sizes it from the engine's own send rate). @default unbounded
   */
  inboundRate?: InboundRate;
  /**
   * Inbound connections kept open per client certificate: past it, the certificate's least
   * recently heard-from connection is closed (never the new one), counted in `evicted` and
   * logged at most once per certificate per 10 s (see `inbound_limit.ts`).
   * @default 4 ({@link MAX_INBOUND_PER_CERTIFICATE})
   */
  maxInboundPerCertificate?: number;
}

/** Counters since creation (payload bytes, not framing). */
export interface WsTransportStats {
  framesSent: number;
  bytesSent: number;
  framesReceived: number;
  bytesReceived: number;
  /** Frames dropped: back-pressure, oversized, unencodable, or lost with a failed dial. */
  dropped: number;
  /** Dials answered by a refused connection. */
  refused: number;
  /** Inbound frames dropped because their sender exceeded `inboundRate`. */
  rateLimited: number;
  /** Connections dialled (each a TLS handshake and a WebSocket upgrade), refused ones included. */
  dialled: number;
  /** Connections accepted (upgraded to gossip). */
  accepted: number;
  /** Inbound connections closed because their certificate held more than its bound. */
  evicted: number;
  /** Open outbound connections. */
  outbound: number;
  /** Open inbound connections. */
  inbound: number;
  /** Open connections (dialled or accepted) that carry frames both ways. */
  shared: number;
}

/** A {@link Transport} with trust refresh and counters. */
export interface WsTransport extends Transport {
  /**
   * Re-evaluates `isTrusted` for every inbound connection and cuts (terminates) those whose
   * client certificate is no longer trusted. Call it whenever the trust set shrinks.
   */
  refreshTrust(): void;
  /** A snapshot of the counters. */
  stats(): WsTransportStats;
}

interface Outbound {
  ws: WebSocket;
  /** Frames sent before `open`, and their byte total; `undefined` once open. */
  queue: (string | Uint8Array)[] | undefined;
  queued: number;
  /** When a frame was last sent (`Date.now()`). */
  usedAt: number;
  /** Whether a frame was sent since the last sweep. */
  busy: boolean;
  /** Sweeps since the last liveness ping. */
  sincePing: number;
  awaitingPong: boolean;
  /** Whether the connection opened (a failed dial is not a lost connection). */
  opened?: boolean;
  /** Closed by us (idle, unresponsive, or the transport closing): no check dial follows. */
  dropped?: boolean;
  /** The frames the listener sends back on it, once it proved who it is (shared connections). */
  reader?: Inbound;
}

/** At most one check dial per address in this time (ms) after its connection was lost. */
const CHECK_MS = 1000;

/**
 * An outbound connection gets a liveness ping every this many sweeps: often enough that its
 * listener, which closes a connection silent for {@link INBOUND_IDLE_SWEEPS} sweeps, sees one,
 * and seldom enough that pings stay a small part of an idle member's traffic (at N=50 each
 * member holds 49 connections each way).
 */
const PING_SWEEPS = 2;
/**
 * A busy connection gets a liveness ping only every this many sweeps: a dead peer behind a busy
 * connection is found by the gossip probes anyway.
 */
const BUSY_PING_SWEEPS = 4;
/** An inbound connection that received no frame and no ping for this many sweeps is closed. */
const INBOUND_IDLE_SWEEPS = 6;
/**
 * Frames one inbound connection hands the engine in one turn of the event loop before it is
 * paused until the next turn. One read of a TLS socket can deliver hundreds of small frames at
 * once (a sender's burst budget is 768 frames under `local`); handled in one go they hold the
 * event loop, and the acks of every other connection and the engine's timers wait behind them.
 * Past this count the connection's socket is paused and resumed in the next turn, after the
 * poll for I/O. The rest of the read in progress is still handed on (ws parses a read at once):
 * a turn takes at most this many frames plus one read's (16 KiB under Node, 64 KiB under Deno).
 */
export const TURN_FRAMES = 64;
/**
 * Handling time (ms) one turn of the event loop may spend on frames before a large frame (over
 * {@link SMALL_FRAME_BYTES}) waits for a later turn, after the poll for I/O: the probes and acks
 * of other connections are then read between two large frames, not after all of them.
 */
export const TURN_HANDLING_MS = 20;
/**
 * The shortest time a connection over its sender's budget goes unread, in ms. Resumed as soon
 * as one frame's worth had refilled (2.6 ms under `local`), it was read again at once: each
 * resume parsed a whole TLS read of which all frames but one were dropped, and a flooded member
 * spent its CPU parsing frames it then dropped (some 15 000 a second). Only a sender over its
 * bound waits this long; an honest member never meets the bound.
 */
export const THROTTLE_PAUSE_MS = 100;
/** The longest time between two sweeps, in ms (whatever `idleCloseMs`). */
const MAX_SWEEP_MS = 15_000;
/** The longest idle close {@link keepOpenFor} asks for, in ms. */
export const MAX_KEEP_OPEN_MS = 300_000;

/**
 * How long a member of a cluster of `members` live members (itself included) keeps an unused
 * connection open, in ms: 2.5 probe cycles (a cycle probes every other member once, one per
 * `probeIntervalMs`, in a fresh random order per cycle, so the same member is probed again
 * within 1 to 2 cycles, and answers our probes as often), at most {@link MAX_KEEP_OPEN_MS}.
 * A connection closed between two probes costs the next probe a TLS handshake at both ends
 * (about 1.3 ms of CPU each, several times what the probe itself costs); an open idle
 * connection costs some memory and a ping every other sweep. Beyond about 120 members (this
 * cap, and the transport's `maxKeptOpen`), some probes dial again.
 */
export function keepOpenFor(probeIntervalMs: number, members: number): number {
  return Math.min(MAX_KEEP_OPEN_MS, 2.5 * Math.max(0, members - 1) * probeIntervalMs);
}

interface Inbound {
  ws: WebSocket;
  from: string;
  fingerprint: string;
  /** Sweeps since the last frame or ping. */
  idle: number;
  /** When it was accepted and when a frame or ping last arrived (0: none yet), in marks of
   * one counter: which of a certificate's connections is closed first past its bound. */
  opened: number;
  seen: number;
  /** Not read until `heldUntil` (over its sender's budget) or the next turn (see `hold`). */
  paused?: boolean;
  /** When the current pause ends (`Date.now()`); the next turn's for a per-turn pause. */
  heldUntil?: number;
  /** Counts pauses, so that only the latest one resumes the connection. */
  holds?: number;
  /** Frames handed on in this turn of the event loop (see {@link TURN_FRAMES}). */
  turnFrames?: number;
  /**
   * Large frames read but not yet handed on (their sender's handling budget was spent, or the
   * turn's): the connection stays paused until they are, so only the rest of one read waits.
   */
  waiting?: { data: Buffer; isBinary: boolean }[];
  /** Whether a `drain` of `waiting` is scheduled. */
  draining?: boolean;
  /** An accepted connection whose dialler was sent our proof (it may confirm sharing). */
  proved?: boolean;
  /** An accepted connection whose dialler confirmed sharing: we may send on it. */
  shared?: boolean;
  /**
   * Whether the member table puts the certificate's member at `from` (so frames to `from` may go
   * here); `undefined` until the table knows the member.
   */
  routes?: boolean;
}

/**
 * Sends frames so that those to one peer within one turn of the event loop leave in one write:
 * the first frame corks the connection's socket, and it is uncorked once the turn's work is done
 * (`setImmediate`). Each `ws.send` is otherwise its own TLS record and `write` system call, and
 * a member answering a burst of frames (a join's state exchange, a round of probes) spent more
 * time in those writes than in the gossip itself. Frames are never held past the turn.
 */
export function coalescingSender(): (ws: WebSocket, data: string | Uint8Array) => void {
  const corked = new Set<Duplex>();
  let scheduled = false;
  const uncork = () => {
    scheduled = false;
    for (const socket of corked) socket.uncork();
    corked.clear();
  };
  return (ws, data) => {
    // ws keeps its socket in `_socket` (no public accessor); without one, frames go one by one.
    const socket = (ws as unknown as { _socket?: Duplex })._socket;
    if (socket && !corked.has(socket) && typeof socket.cork === "function") {
      socket.cork();
      corked.add(socket);
      if (!scheduled) {
        scheduled = true;
        setImmediate(uncork);
      }
    }
    ws.send(data);
  };
}

const ADDRESS_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;
const noop = () => {};
const noHandlers: TransportHandlers = { message: noop, refused: noop };

/**
 * Creates the transport and attaches its `upgrade` listener to `options.server`. Upgrades on
 * other paths are left to other listeners, or answered 404 when there is none.
 *
 * @throws {InvalidInputError} when `serverFingerprint` is malformed
 * @throws {ForbiddenError} when `serverCert` does not have `serverFingerprint`
 */
export function createWsTransport(options: WsTransportOptions): WsTransport {
  const log = options.logger.child({ component: "gossip:ws" });
  const maxFrame = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  const mark = options.maxBufferedBytes ?? 1_048_576;
  const idleMs = options.idleCloseMs ?? 30_000;
  const keepOpenMs = options.keepOpenMs;
  const maxKept = options.maxKeptOpen ?? 120;
  const sweepMs = Math.max(1, Math.min(MAX_SWEEP_MS, idleMs / 2));
  const connectMs = options.connectTimeoutMs ?? 5_000;
  const server = options.server;
  const tls: PinnedTlsOptions = pinnedTlsOptions({
    fingerprint: options.serverFingerprint,
    peerCert: options.serverCert,
    cert: options.cert,
    key: options.key,
    handshakeTimeoutMs: connectMs,
  });
  const dialOptions = {
    ...tls,
    perMessageDeflate: false, // the ws client default is true
    handshakeTimeout: connectMs,
    maxPayload: maxFrame,
    headers: { [ADDRESS_HEADER]: options.address },
  };
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: maxFrame,
    clientTracking: false,
  });
  const out = new Map<string, Outbound>();
  /** When each address was last dialled again after a lost connection (see `check`). */
  const checked = new Map<string, number>();
  const inbound = new Set<Inbound>();
  const s: WsTransportStats = {
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
    dropped: 0,
    refused: 0,
    rateLimited: 0,
    dialled: 0,
    accepted: 0,
    evicted: 0,
    outbound: 0,
    inbound: 0,
    shared: 0,
  };
  let handlers = noHandlers;
  let closed = false;
  const write = coalescingSender();
  const limiter = options.inboundRate ? new PeerRateLimiter(options.inboundRate) : undefined;
  const perSecond = options.inboundRate?.handlingMsPerSecond;
  const budget = perSecond !== undefined && perSecond > 0
    ? new HandlingBudget(perSecond, options.inboundRate?.handlingBurstMs ?? perSecond)
    : undefined;
  /** Time spent handing frames on in this turn (ms); reset at its end. */
  let turnMs = 0;
  let turnEnding = false;
  const perCertificate = new InboundLimit<Inbound>(
    options.maxInboundPerCertificate ?? MAX_INBOUND_PER_CERTIFICATE,
  );
  /** Increases with every connection accepted and frame or ping received: {@link Inbound.seen}. */
  let seenCount = 0;
  /** Frames dropped per sender since its last log line, and when that line was. */
  const overLimit = new Map<string, { dropped: number; loggedAt: number }>();
  const share = options.share !== false;
  const addressOf = options.addressOf;
  const ownFingerprint = share ? certFingerprint(options.cert) : "";
  const prove = share ? shareProver(options.cert, options.key) : undefined;
  /** The listener's side of outbound connections it shares with us (read as inbound ones). */
  const readers = new Set<Inbound>();
  /** Accepted connections whose dialler confirmed sharing, by the address they advertised. */
  const sharedIn = new Map<string, Set<Inbound>>();
  /** The proof headers to add to an upgrade answer (see `link_proof.ts`). */
  const proofs = new WeakMap<IncomingMessage, string[]>();
  wss.on("headers", (headers: string[], req: IncomingMessage) => {
    const lines = proofs.get(req);
    if (lines) headers.push(...lines);
  });
  /** Connections that handed frames on in this turn; their counts are reset at its end. */
  const counted = new Set<Inbound>();
  const endTurn = () => {
    turnEnding = false;
    turnMs = 0;
    for (const conn of counted) conn.turnFrames = 0;
    counted.clear();
  };
  const inTurn = () => {
    if (turnEnding) return;
    turnEnding = true;
    setImmediate(endTurn);
  };

  function reject(socket: Duplex, status: string, fields: Record<string, unknown>): void {
    log.warn("Gossip connection rejected", { status, ...fields });
    // node:http drops its own error listener on upgrade; an unhandled ECONNRESET would crash.
    socket.on("error", noop);
    socket.once("finish", () => socket.destroy());
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = req.url ?? "";
    const q = url.indexOf("?");
    if ((q < 0 ? url : url.slice(0, q)) !== GOSSIP_PATH) {
      if (server.listenerCount("upgrade") === 1) reject(socket, "404 Not Found", { url });
      return;
    }
    const remote = req.socket.remoteAddress;
    const fingerprint = peerFingerprint(req.socket);
    if (fingerprint === undefined || !options.isTrusted(fingerprint)) {
      return reject(socket, "403 Forbidden", { remote, fingerprint: fingerprint ?? null });
    }
    const from = req.headers[ADDRESS_HEADER];
    if (typeof from !== "string" || !ADDRESS_RE.test(from)) {
      return reject(socket, "400 Bad Request", { remote, fingerprint, advertised: from ?? null });
    }
    const proved = offerProof(req, fingerprint);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: Inbound = {
        ws,
        from,
        fingerprint,
        idle: 0,
        opened: ++seenCount,
        seen: 0,
        proved,
      };
      inbound.add(conn);
      s.accepted++;
      // The dialler's liveness pings keep a connection it holds open (ws answers them itself).
      ws.on("ping", (data: Buffer) => {
        conn.idle = 0;
        conn.seen = ++seenCount;
        if (conn.proved && !conn.shared) acceptShare(conn, data);
      });
      // Oversized or malformed frames land here (ws closes with 1009/1002); so do resets.
      ws.on(
        "error",
        (err) => log.warn("Gossip inbound frame rejected or connection failed", { from, err }),
      );
      ws.on("close", (code: number) => {
        inbound.delete(conn);
        perCertificate.remove(fingerprint, conn);
        unshare(conn, code);
      });
      ws.on("message", (data, isBinary) => receive(conn, data, isBinary));
      if (closed) ws.terminate(); // close() ran while the handshake was finishing
      else boundInbound(conn);
    });
  }

  /**
   * Counts a new inbound connection under its certificate and closes that certificate's least
   * recently heard-from connections past the bound (see `inbound_limit.ts`).
   */
  function boundInbound(conn: Inbound): void {
    const excess = perCertificate.add(conn.fingerprint, conn);
    if (excess.length === 0) return;
    for (const old of excess) cut(old);
    s.evicted += excess.length;
    const count = perCertificate.closed(conn.fingerprint, excess.length);
    if (count > 0) logEvicted(conn.fingerprint, count, conn.from);
  }

  function logEvicted(fingerprint: string, closed: number, from?: string): void {
    log.warn("Gossip connections over the certificate's limit closed", {
      ...(from === undefined ? {} : { from }),
      fingerprint,
      closed,
      limit: perCertificate.max,
    });
  }

  /** Whether frames read on `conn` are still handed on (it was not cut or closed). */
  function reading(conn: Inbound): boolean {
    return inbound.has(conn) || readers.has(conn);
  }

  /**
   * Prepares our proof for a dialler that asked for one (`link_proof.ts`): the upgrade answer
   * carries it. Whether the proof was offered.
   */
  function offerProof(req: IncomingMessage, diallerFingerprint: string): boolean {
    const nonce = req.headers[SHARE_HEADER];
    if (!prove || !isShareNonce(nonce)) return false;
    try {
      proofs.set(req, prove(nonce, diallerFingerprint));
      return true;
    } catch (err) {
      log.warn("Gossip share proof failed", { err });
      return false;
    }
  }

  /** The dialler's confirming ping: `conn` may carry our frames to its member from now on. */
  function acceptShare(conn: Inbound, data: Buffer): void {
    if (!inbound.has(conn) || data.toString("latin1") !== SHARE_CONFIRM) return;
    conn.shared = true;
    let set = sharedIn.get(conn.from);
    if (!set) sharedIn.set(conn.from, set = new Set());
    set.add(conn);
  }

  /**
   * Forgets a shared accepted connection. One lost without a close frame (1006) whose member
   * lives at its address is dialled back at once (see `check`): a crashed dialler is then
   * reported refused now, not at the next frame we send it.
   */
  function unshare(conn: Inbound, code?: number): void {
    if (!conn.shared) return;
    conn.shared = false;
    const set = sharedIn.get(conn.from);
    set?.delete(conn);
    if (set?.size === 0) sharedIn.delete(conn.from);
    if (code === 1006 && !closed && routes(conn, conn.from)) check(conn.from);
  }

  /** Cuts an accepted connection ourselves (no check dial follows). */
  function cut(conn: Inbound): void {
    inbound.delete(conn);
    unshare(conn);
    conn.ws.terminate();
  }

  /** An open connection `to`'s member dialled and shares with us, the latest one. */
  function sharedTo(to: string): Inbound | undefined {
    const set = sharedIn.get(to);
    if (!set || !addressOf) return undefined;
    let found: Inbound | undefined;
    for (const conn of set) {
      if (conn.ws.readyState === WebSocket.OPEN && routes(conn, to)) found = conn;
    }
    return found;
  }

  /** Whether the member table puts `conn`'s certificate's member at `to` (asked once known). */
  function routes(conn: Inbound, to: string): boolean {
    if (conn.routes === undefined && addressOf) {
      let at: string | undefined;
      try {
        at = addressOf(conn.fingerprint);
      } catch (err) {
        log.error("Gossip addressOf failed", { err });
      }
      if (at !== undefined) conn.routes = at === to;
    }
    return conn.routes === true;
  }

  /**
   * The shared accepted connection a frame to `to` goes on instead of `peer` (ours, or none):
   * any when we hold none; else only when `to` has the lower address, since both members send
   * on the connection the lower one dialled.
   */
  function viaShared(to: string, peer: Outbound | undefined): Inbound | undefined {
    if (sharedIn.size === 0) return undefined;
    if (peer && !(to < options.address)) return undefined;
    return sharedTo(to);
  }

  /**
   * The dialler's side: checks the listener's proof in its upgrade answer; when it holds and
   * names a trusted certificate, what the listener sends on the connection is read as from it.
   */
  function checkProof(peer: Outbound, to: string, nonce: string, res: IncomingMessage): void {
    const fp = provenFingerprint(
      nonce,
      ownFingerprint,
      res.headers[SHARE_CERT_HEADER],
      res.headers[SHARE_PROOF_HEADER],
    );
    if (fp === undefined || !options.isTrusted(fp)) return; // one-way, as with older members
    peer.reader = { ws: peer.ws, from: to, fingerprint: fp, idle: 0, opened: 0, seen: 0 };
  }

  function receive(conn: Inbound, data: RawData, isBinary: boolean): void {
    if (!reading(conn)) return; // cut by refreshTrust
    conn.idle = 0;
    conn.seen = ++seenCount;
    // binaryType stays "nodebuffer", so `data` is one Buffer; the rest is for completeness.
    const bytes = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.from(data);
    s.framesReceived++;
    s.bytesReceived += bytes.byteLength;
    const wait = limiter?.take(conn.fingerprint, bytes.byteLength) ?? 0;
    if (wait > 0) return throttle(conn, wait);
    inTurn();
    counted.add(conn);
    conn.turnFrames = (conn.turnFrames ?? 0) + 1;
    if (conn.turnFrames === TURN_FRAMES) hold(conn, 0);
    if (budget && (conn.waiting || (bytes.byteLength > SMALL_FRAME_BYTES && !mayHandle(conn)))) {
      // Read, but handed on later: the connection is not read meanwhile (TCP slows the sender).
      (conn.waiting ??= []).push({ data: bytes, isBinary });
      conn.ws.pause();
      return scheduleDrain(conn);
    }
    handle(conn, bytes, isBinary);
  }

  /** Hands one frame to the engine, and charges the time it took to its sender. */
  function handle(conn: Inbound, bytes: Buffer, isBinary: boolean): void {
    const t0 = performance.now();
    try {
      handlers.message(conn.from, isBinary ? bytes : bytes.toString("utf8"), conn.fingerprint);
    } catch (err) {
      log.error("Gossip message handler failed", { from: conn.from, err });
    }
    const ms = performance.now() - t0;
    turnMs += ms;
    budget?.charge(conn.fingerprint, ms);
  }

  /** Whether a large frame of `conn` may be handled now: its sender's budget and the turn's. */
  function mayHandle(conn: Inbound): boolean {
    return turnMs < TURN_HANDLING_MS && budget!.wait(conn.fingerprint) === 0;
  }

  /**
   * Hands on `conn`'s waiting frames when its sender's budget has refilled, in later turns
   * (after a poll for I/O) while the turn's is spent; then reads the connection again.
   */
  function scheduleDrain(conn: Inbound): void {
    if (conn.draining) return;
    conn.draining = true;
    const wait = budget!.wait(conn.fingerprint);
    if (wait > 0) {
      const timer = setTimeout(drain, wait, conn);
      (timer as { unref?: () => void }).unref?.();
    } else {
      // Immediates set in this turn's check phase run in it: the second waits for the next.
      setImmediate(() => setImmediate(drain, conn));
    }
  }

  function drain(conn: Inbound): void {
    conn.draining = false;
    const waiting = conn.waiting;
    if (!waiting) return;
    if (!reading(conn)) return void (conn.waiting = undefined);
    while (waiting.length > 0) {
      if (!mayHandle(conn)) return scheduleDrain(conn);
      inTurn();
      const { data, isBinary } = waiting.shift()!;
      handle(conn, data, isBinary);
    }
    conn.waiting = undefined;
    if (!conn.paused) conn.ws.resume();
  }

  /**
   * Drops a frame over its sender's bound and stops reading the connection until the budget
   * has refilled, at least {@link THROTTLE_PAUSE_MS} and at most a second at a time: TCP flow
   * control then slows the sender.
   */
  function throttle(conn: Inbound, waitMs: number): void {
    s.rateLimited++;
    const now = Date.now();
    const note = overLimit.get(conn.fingerprint) ?? { dropped: 0, loggedAt: -Infinity };
    note.dropped++;
    overLimit.set(conn.fingerprint, note);
    if (now - note.loggedAt >= RATE_LOG_MS) {
      log.warn("Gossip frames over the sender's rate limit dropped", {
        from: conn.from,
        fingerprint: conn.fingerprint,
        dropped: note.dropped,
        frames_per_second: limiter!.rate.framesPerSecond,
        bytes_per_second: limiter!.rate.bytesPerSecond,
      });
      note.dropped = 0;
      note.loggedAt = now;
    }
    // The rest of the read in progress arrives paused: one pause for all of it.
    if (conn.paused && (conn.heldUntil ?? 0) > now) return;
    hold(conn, Math.min(Math.max(waitMs, THROTTLE_PAUSE_MS), 1000));
  }

  /**
   * Stops reading `conn` for `ms`, or until the next turn of the event loop when `ms` is 0
   * (after the poll for I/O: other connections' frames and due timers go first). A pause that
   * ends sooner than the one in force changes nothing.
   */
  function hold(conn: Inbound, ms: number): void {
    const until = Date.now() + ms;
    if (conn.paused && until <= (conn.heldUntil ?? 0)) return;
    const hold = conn.holds = (conn.holds ?? 0) + 1;
    conn.paused = true;
    conn.heldUntil = until;
    conn.ws.pause();
    const resume = () => {
      if (conn.holds !== hold) return; // a longer pause replaced this one
      conn.paused = false;
      if (reading(conn) && !conn.waiting) conn.ws.resume();
    };
    if (ms === 0) return void setImmediate(resume);
    const timer = setTimeout(resume, ms);
    (timer as { unref?: () => void }).unref?.();
  }

  function dial(to: string): Outbound | undefined {
    let ws: WebSocket;
    const nonce = share ? shareNonce() : undefined;
    try {
      ws = new WebSocket(
        `wss://${to}${GOSSIP_PATH}`,
        nonce
          ? { ...dialOptions, headers: { ...dialOptions.headers, [SHARE_HEADER]: nonce } }
          : dialOptions,
      );
    } catch (err) {
      log.debug("Gossip dial failed", { to, err });
      return undefined;
    }
    const peer: Outbound = {
      ws,
      queue: [],
      queued: 0,
      usedAt: Date.now(),
      busy: true,
      sincePing: 0,
      awaitingPong: false,
    };
    out.set(to, peer);
    s.dialled++;
    if (nonce) ws.on("upgrade", (res: IncomingMessage) => checkProof(peer, to, nonce, res));
    ws.on("open", () => {
      peer.opened = true;
      if (peer.reader) {
        // Before our first frame: the listener may answer it on this connection.
        readers.add(peer.reader);
        ws.ping(SHARE_CONFIRM);
      }
      const queue = peer.queue!;
      peer.queue = undefined;
      peer.queued = 0;
      for (const data of queue) write(ws, data);
    });
    ws.on("message", (data, isBinary) => {
      const reader = peer.reader;
      if (!reader) return; // a listener that did not prove who it is sends nothing we read
      peer.usedAt = Date.now(); // the listener uses it: keep it open
      receive(reader, data, isBinary);
    });
    ws.on("pong", () => peer.awaitingPong = false);
    ws.on("error", (err: Error & { code?: string }) => {
      if (peer.queue) s.dropped += peer.queue.length;
      peer.queue = undefined;
      if (err.code === "ECONNREFUSED") {
        s.refused++;
        log.debug("Gossip peer refused the connection", { to });
        if (!closed) callRefused(to);
      } else if (err.name === "ForbiddenError") {
        log.warn("Gossip peer failed the certificate pin", { to, err });
      } else {
        log.debug("Gossip connection failed", { to, err });
      }
    });
    ws.on("close", (code: number) => {
      if (out.get(to) === peer) out.delete(to);
      if (peer.reader) readers.delete(peer.reader);
      // An open connection lost without a close frame (1006): the peer's process may have
      // died (kill -9 closes its sockets at once). Dial it again now: a refusal then reaches
      // the engine at once, not at the next frame we happen to send it.
      if (code === 1006 && peer.opened && !peer.dropped && !closed) check(to);
    });
    return peer;
  }

  /** Dials `to` again after its connection was lost (once per {@link CHECK_MS}). */
  function check(to: string): void {
    const now = Date.now();
    if (out.has(to) || now - (checked.get(to) ?? -Infinity) < CHECK_MS) return;
    checked.set(to, now);
    log.debug("Gossip connection lost, dialling again", { to });
    dial(to);
  }

  function callRefused(to: string): void {
    try {
      handlers.refused(to);
    } catch (err) {
      log.error("Gossip refused handler failed", { to, err });
    }
  }

  function encode(frame: Frame): string | Uint8Array | undefined {
    if (typeof frame === "string" || frame instanceof Uint8Array) return frame;
    try {
      return JSON.stringify(frame);
    } catch (err) {
      log.error("Gossip frame not encodable", { err });
      return undefined;
    }
  }

  function send(to: string, frame: Frame, sendOptions?: SendOptions): void {
    if (closed) return;
    const data = encode(frame);
    if (data === undefined) return void s.dropped++;
    let size = data.length; // UTF-16 units: the exact size of ASCII JSON, a bound otherwise
    if (typeof data === "string" && size * 3 > maxFrame) size = Buffer.byteLength(data);
    if (size > maxFrame) {
      log.warn("Gossip frame larger than maxFrameBytes dropped", { to, size, maxFrame });
      return void s.dropped++;
    }
    let peer = out.get(to);
    if (peer && peer.ws.readyState > WebSocket.OPEN) peer = undefined; // closing: dial anew
    const shared = viaShared(to, peer);
    if (shared) return sendShared(shared, data, size, sendOptions);
    if (!peer) {
      if (!ADDRESS_RE.test(to)) {
        log.warn("Gossip frame to a malformed address dropped", { to });
        return void s.dropped++;
      }
      peer = dial(to);
      if (!peer) return void s.dropped++;
    }
    peer.usedAt = Date.now();
    peer.busy = true;
    const limit = sendOptions?.reliable ? mark * RELIABLE_FACTOR : mark;
    const queue = peer.queue;
    const buffered = queue ? peer.queued : peer.ws.bufferedAmount;
    // An empty buffer takes any frame, so a frame above the mark is never dropped for its size.
    if (buffered > 0 && buffered + size > limit) return void s.dropped++;
    s.framesSent++;
    s.bytesSent += size;
    if (queue) {
      queue.push(data);
      peer.queued += size;
    } else if (peer.ws.readyState === WebSocket.OPEN) {
      write(peer.ws, data);
    } else {
      s.dropped++; // the dial failed and the close event has not arrived yet
    }
  }

  /** Sends on a connection `to`'s member dialled, under the same high-water mark. */
  function sendShared(
    conn: Inbound,
    data: string | Uint8Array,
    size: number,
    sendOptions?: SendOptions,
  ): void {
    const limit = sendOptions?.reliable ? mark * RELIABLE_FACTOR : mark;
    const buffered = conn.ws.bufferedAmount;
    if (buffered > 0 && buffered + size > limit) return void s.dropped++;
    s.framesSent++;
    s.bytesSent += size;
    write(conn.ws, data);
  }

  /**
   * Closes our connection to `to` gracefully (the listener sees a close frame, so it does not
   * dial back to check on us) when it carries frames both ways or when both members now send on
   * the connection `to` dialled (see `viaShared`).
   */
  function retire(to: string, peer: Outbound): void {
    out.delete(to);
    peer.dropped = true;
    if (peer.reader) readers.delete(peer.reader);
    peer.ws.close(1000);
  }

  function sweep(): void {
    const now = Date.now();
    let keepMs = idleMs;
    if (keepOpenMs) {
      try {
        const k = keepOpenMs();
        if (Number.isFinite(k) && k > keepMs) keepMs = k;
      } catch (err) {
        log.error("Gossip keepOpenMs failed", { err });
      }
    }
    // Past the cap, only the most recently used connections are kept past the idle close.
    let keptSince = -Infinity;
    if (keepMs > idleMs && out.size > maxKept) {
      const used = [...out.values()].map((p) => p.usedAt).sort((a, b) => b - a);
      keptSince = maxKept > 0 ? used[maxKept - 1] : Infinity;
    }
    for (const [to, peer] of out) {
      if (peer.queue) continue; // still connecting: handshakeTimeout applies
      const busy = peer.busy;
      peer.busy = false;
      const closeMs = peer.usedAt >= keptSince ? keepMs : idleMs;
      if (
        !peer.awaitingPong &&
        (now - peer.usedAt >= closeMs ? peer.reader : !busy && viaShared(to, peer))
      ) {
        retire(to, peer);
      } else if (peer.awaitingPong || now - peer.usedAt >= closeMs) {
        if (peer.awaitingPong) log.debug("Gossip connection unresponsive, closed", { to });
        if (peer.reader) readers.delete(peer.reader);
        out.delete(to);
        peer.dropped = true;
        peer.ws.terminate();
      } else if (++peer.sincePing >= (busy ? BUSY_PING_SWEEPS : PING_SWEEPS)) {
        peer.sincePing = 0;
        peer.awaitingPong = true;
        peer.ws.ping();
      }
    }
    for (const conn of inbound) if (++conn.idle >= INBOUND_IDLE_SWEEPS) cut(conn);
    limiter?.sweep();
    budget?.sweep();
    for (const [fingerprint, count] of perCertificate.due()) logEvicted(fingerprint, count);
    for (const [fingerprint, note] of overLimit) {
      if (now - note.loggedAt < RATE_LOG_MS) continue;
      overLimit.delete(fingerprint);
      if (note.dropped > 0) {
        log.warn("Gossip frames over the sender's rate limit dropped", {
          fingerprint,
          dropped: note.dropped,
        });
      }
    }
    const old = now - CHECK_MS;
    for (const [to, at] of checked) if (at < old) checked.delete(to);
  }

  /** Cuts our shared connections whose listener's certificate is no longer trusted. */
  function cutUntrustedReaders(): void {
    for (const [to, peer] of out) {
      const reader = peer.reader;
      if (!reader || options.isTrusted(reader.fingerprint)) continue;
      log.info("Gossip peer no longer trusted, cut", { to, fingerprint: reader.fingerprint });
      readers.delete(reader);
      out.delete(to);
      peer.dropped = true;
      peer.ws.terminate();
    }
  }

  const timer = setInterval(sweep, sweepMs);
  (timer as { unref?: () => void }).unref?.();
  server.on("upgrade", onUpgrade);

  return {
    address: options.address,
    send,
    listen(h: TransportHandlers): void {
      handlers = h;
    },
    refreshTrust(): void {
      for (const conn of inbound) {
        if (options.isTrusted(conn.fingerprint)) continue;
        log.info("Gossip peer no longer trusted, cut", {
          from: conn.from,
          fingerprint: conn.fingerprint,
        });
        cut(conn);
      }
      cutUntrustedReaders();
    },
    stats(): WsTransportStats {
      let shared = readers.size;
      for (const set of sharedIn.values()) shared += set.size;
      return { ...s, outbound: out.size, inbound: inbound.size, shared };
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      server.off("upgrade", onUpgrade);
      for (const p of out.values()) p.dropped = true;
      const sockets = [...[...out.values()].map((p) => p.ws), ...[...inbound].map((c) => c.ws)];
      out.clear();
      inbound.clear();
      readers.clear();
      sharedIn.clear();
      await Promise.all(sockets.map((ws) => {
        if (ws.readyState === WebSocket.CLOSED) return;
        const done = new Promise<void>((resolve) => ws.once("close", () => resolve()));
        ws.terminate();
        return done;
      }));
      wss.close();
    },
  };
}
