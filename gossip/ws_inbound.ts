/**
 * The listener's side of the WebSocket transport (see `ws_transport.ts`): the upgrade checks,
 * the accepted connections (at most so many per certificate, `inbound_limit.ts`), idle ones
 * closed, and the frames read on them (and on the connections we dialled that their listener
 * shares) handed to the engine under the bounds of `ws_frame_pacing.ts`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage, Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { RawData } from "ws";
import { peerFingerprint } from "../lib/net/pin.ts";
import type { InboundRate } from "./frame_rate.ts";
import { createFramePacing } from "./ws_frame_pacing.ts";
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
  const perCertificate = new InboundLimit<Inbound>(
    options.maxInboundPerCertificate ?? MAX_INBOUND_PER_CERTIFICATE,
  );
  /** Increases with every connection accepted and frame or ping received: {@link Inbound.seen}. */
  let seenCount = 0;
  /** Upgrades refused per status since its last log line. */
  const rejections = new CountedLog();
  const readers = sharing.readers;
  wss.on("headers", (headers: string[], req: IncomingMessage) => sharing.addProof(headers, req));
  legacyWss.on(
    "headers",
    (headers: string[], req: IncomingMessage) => sharing.addProof(headers, req),
  );
  const pacing = createFramePacing(ctx, options.inboundRate, reading);

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
    pacing.take(conn, data, isBinary);
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
      pacing.sweep();
      for (const [fingerprint, count] of perCertificate.due()) logEvicted(fingerprint, count);
      pacing.logDropped();
      for (const [status, rejected] of rejections.due()) {
        log.warn("Gossip connection rejected", { status, rejected });
      }
    },
  };
}
