/**
 * The listener's side of the WebSocket transport (see `ws_transport.ts`): the upgrade checks,
 * the accepted connections (at most so many per certificate, `inbound_limit.ts`), and how frames
 * read on them (and on the connections we dialled that their listener shares) are handed to the
 * engine: under each sender's rate (`frame_rate.ts`), its handling budget, and per-turn bounds,
 * the connection held (not read) meanwhile.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage, Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { setImmediate } from "node:timers";
import { WebSocketServer } from "ws";
import type { RawData } from "ws";
import { monotonicNow } from "../lib/cluster/monotonic_now.ts";
import { peerFingerprint } from "../lib/net/pin.ts";
import {
  HandlingBudget,
  type InboundRate,
  PeerRateLimiter,
  SMALL_FRAME_BYTES,
} from "./frame_rate.ts";
import { CountedLog } from "./counted_log.ts";
import { InboundLimit, MAX_INBOUND_PER_CERTIFICATE } from "./inbound_limit.ts";
import {
  ADDRESS_HEADER,
  ADDRESS_RE,
  GOSSIP_PATH,
  type Inbound,
  type WsContext,
} from "./ws_context.ts";
import type { WsSharing } from "./ws_sharing.ts";
import { isShareNonce, SHARE_HEADER } from "./link_proof.ts";
import { LEGACY_MAX_FRAME_BYTES } from "./messages.ts";

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

const noop = () => {};

/** The listener's side of one transport (see {@link createWsInbound}). */
export interface WsInbound {
  /** The accepted connections. */
  readonly inbound: Set<Inbound>;
  /** The server gossip connections are upgraded by (closed by the transport's `close`). */
  readonly wss: WebSocketServer;
  /** The listener's `upgrade` listener. */
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Reads a frame that arrived on `conn` and hands it on, now or later, or drops it. */
  receive(conn: Inbound, data: RawData, isBinary: boolean): void;
  /** Cuts the accepted connections whose client certificate is no longer trusted. */
  cutUntrusted(): void;
  /** Cuts the connections `from` dialled to us that we send on (shared ones). */
  cutSharedFrom(from: string): void;
  /**
   * The listener's part of a sweep: idle accepted connections are closed, and the limits'
   * bookkeeping and delayed log lines done.
   */
  sweep(): void;
}

/**
 * The listener's side of the transport of `ctx`: `server` is the listener the upgrades arrive
 * on; `inboundRate` and `maxInboundPerCertificate` are the transport's options of those names.
 */
export function createWsInbound(
  ctx: WsContext,
  sharing: WsSharing,
  options: {
    server: HttpsServer | HttpServer;
    inboundRate?: InboundRate;
    maxInboundPerCertificate?: number;
  },
): WsInbound {
  const log = ctx.log;
  const s = ctx.stats;
  const server = options.server;
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: ctx.maxFrame,
    clientTracking: false,
  });
  // A dialler that does not ask for our link proof runs a release that chunks state by chars:
  // its frames may reach LEGACY_MAX_FRAME_BYTES (see there for the cost); one that asks is held
  // to maxFrame. The limit is ws's per connection, taken from the server that upgrades it.
  const legacyWss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: Math.max(ctx.maxFrame, LEGACY_MAX_FRAME_BYTES),
    clientTracking: false,
  });
  wss.on("close", () => legacyWss.close());
  const inbound = new Set<Inbound>();
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
  /** Frames dropped per sender since its last log line. */
  const overLimit = new CountedLog();
  /** Upgrades refused per status since its last log line. */
  const rejections = new CountedLog();
  const readers = sharing.readers;
  wss.on("headers", (headers: string[], req: IncomingMessage) => sharing.addProof(headers, req));
  legacyWss.on(
    "headers",
    (headers: string[], req: IncomingMessage) => sharing.addProof(headers, req),
  );
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
    // One line per status every RATE_LOG_MS, counting the rest: a removed member dials every
    // member until it learns its removal (about ten lines a removal before), and strangers
    // dialling in a loop would flood the log.
    const rejected = rejections.add(status, 1);
    if (rejected > 0) log.warn("Gossip connection rejected", { status, ...fields, rejected });
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
    if (fingerprint === undefined || !ctx.isTrusted(fingerprint)) {
      return reject(socket, "403 Forbidden", { remote, fingerprint: fingerprint ?? null });
    }
    const from = req.headers[ADDRESS_HEADER];
    if (typeof from !== "string" || !ADDRESS_RE.test(from)) {
      return reject(socket, "400 Bad Request", { remote, fingerprint, advertised: from ?? null });
    }
    const proved = sharing.offerProof(req, fingerprint);
    const upgrader = isShareNonce(req.headers[SHARE_HEADER]) ? wss : legacyWss;
    upgrader.handleUpgrade(req, socket, head, (ws) => {
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
        if (conn.proved && !conn.shared && inbound.has(conn)) sharing.acceptShare(conn, data);
      });
      // Oversized or malformed frames land here (ws closes with 1009/1002); so do resets.
      ws.on(
        "error",
        (err) => log.warn("Gossip inbound frame rejected or connection failed", { from, err }),
      );
      ws.on("close", (code: number) => {
        inbound.delete(conn);
        perCertificate.remove(fingerprint, conn);
        sharing.unshare(conn, code);
      });
      ws.on("message", (data, isBinary) => receive(conn, data, isBinary));
      if (ctx.closed) ws.terminate(); // close() ran while the handshake was finishing
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

  /** Cuts an accepted connection ourselves (no check dial follows). */
  function cut(conn: Inbound): void {
    inbound.delete(conn);
    sharing.unshare(conn);
    conn.ws.terminate();
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
      ctx.handlers.message(conn.from, isBinary ? bytes : bytes.toString("utf8"), conn.fingerprint);
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
    const now = monotonicNow();
    const dropped = overLimit.add(conn.fingerprint, 1);
    if (dropped > 0) {
      log.warn("Gossip frames over the sender's rate limit dropped", {
        from: conn.from,
        fingerprint: conn.fingerprint,
        dropped,
        frames_per_second: limiter!.rate.framesPerSecond,
        bytes_per_second: limiter!.rate.bytesPerSecond,
      });
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
    const until = monotonicNow() + ms;
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

  return {
    inbound,
    wss,
    onUpgrade,
    receive,
    cutSharedFrom(from: string): void {
      for (const conn of [...(sharing.sharedIn.get(from) ?? [])]) cut(conn);
    },
    cutUntrusted(): void {
      for (const conn of inbound) {
        if (ctx.isTrusted(conn.fingerprint)) continue;
        log.info("Gossip peer no longer trusted, cut", {
          from: conn.from,
          fingerprint: conn.fingerprint,
        });
        cut(conn);
      }
    },
    sweep(): void {
      for (const conn of inbound) if (++conn.idle >= INBOUND_IDLE_SWEEPS) cut(conn);
      limiter?.sweep();
      budget?.sweep();
      for (const [fingerprint, count] of perCertificate.due()) logEvicted(fingerprint, count);
      for (const [fingerprint, dropped] of overLimit.due()) {
        log.warn("Gossip frames over the sender's rate limit dropped", { fingerprint, dropped });
      }
      for (const [status, rejected] of rejections.due()) {
        log.warn("Gossip connection rejected", { status, rejected });
      }
    },
  };
}
