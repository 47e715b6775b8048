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
import type { Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import WebSocket from "ws";
import { monotonicNow } from "../lib/cluster/monotonic_now.ts";
import type { Transport, TransportHandlers } from "../lib/cluster/transport.ts";
import type { Logger } from "../lib/log.ts";
import { type Deadline, deadlineIn } from "../lib/net/late_deadline.ts";
import { pinnedTlsOptions } from "../lib/net/pin.ts";
import type { PinnedTlsOptions } from "../lib/net/pin.ts";
import type { InboundRate } from "./frame_rate.ts";
import { MAX_FRAME_BYTES } from "./messages.ts";
import { coalescingSender } from "./coalescing_sender.ts";
import { type WsContext, type WsTransportStats } from "./ws_context.ts";
import { createWsInbound } from "./ws_inbound.ts";
import { createWsOutbound } from "./ws_outbound.ts";
import { createWsSharing } from "./ws_sharing.ts";

export { coalescingSender } from "./coalescing_sender.ts";
export { ADDRESS_HEADER, GOSSIP_PATH, RELIABLE_FACTOR } from "./ws_context.ts";
export type { WsTransportStats } from "./ws_context.ts";
export { THROTTLE_PAUSE_MS, TURN_FRAMES, TURN_HANDLING_MS } from "./ws_frame_pacing.ts";

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
   * @default 4 (`MAX_INBOUND_PER_CERTIFICATE` of `inbound_limit.ts`)
   */
  maxInboundPerCertificate?: number;
  /**
   * Called with the address of a listener that answered our dial 403: it does not trust our
   * client certificate. A member removed while it was cut off learns it this way, since no
   * gossip reaches it any more. Called for every such dial (the caller rate-limits).
   * @default none
   */
  onCertificateRefused?: (to: string) => void;
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
  /**
   * Closes every connection that carries our frames to `to` (the one we dialled, and those its
   * member dialled and shares with us) unless one is still connecting, so the next frame to
   * `to` dials anew. A connection a partition or a frozen peer left open looks healthy to us,
   * but what we write on it waits for TCP's backed-off retransmissions (tens of seconds after a
   * 30 s cut) before the peer's reset ends it.
   */
  redial(to: string): void;
}

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
  const idleMs = options.idleCloseMs ?? 30_000;
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
  const ctx: WsContext = {
    log: options.logger.child({ component: "gossip:ws" }),
    address: options.address,
    isTrusted: (fingerprint) => options.isTrusted(fingerprint),
    maxFrame: options.maxFrameBytes ?? MAX_FRAME_BYTES,
    mark: options.maxBufferedBytes ?? 1_048_576,
    stats: {
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
    },
    write: coalescingSender(),
    handlers: noHandlers,
    closed: false,
    certificateRefused: (to) => {
      try {
        options.onCertificateRefused?.(to);
      } catch (err) {
        ctx.log.error("Gossip onCertificateRefused failed", { to, err });
      }
    },
  };
  const share = options.share !== false;
  const sharing = createWsSharing(ctx, {
    share,
    cert: options.cert,
    key: options.key,
    addressOf: options.addressOf,
    check: (to) => outbound.check(to),
  });
  const inbound = createWsInbound(ctx, sharing, {
    server,
    inboundRate: options.inboundRate,
    maxInboundPerCertificate: options.maxInboundPerCertificate,
  });
  const outbound = createWsOutbound(ctx, sharing, inbound, {
    tls,
    connectMs,
    share,
    idleMs,
    keepOpenMs: options.keepOpenMs,
    maxKept: options.maxKeptOpen ?? 120,
  });
  const out = outbound.out;
  const onUpgrade = inbound.onUpgrade;

  function sweep(): void {
    const now = monotonicNow();
    outbound.sweep(now);
    inbound.sweep();
  }

  // A check that runs late because the loop was held would drop a connection whose pong is
  // waiting unread in its socket: it looks once more first (late_deadline.ts).
  let timer: Deadline;
  const nextSweep = () => {
    timer = deadlineIn(sweepMs, () => {
      try {
        sweep();
      } finally {
        if (!ctx.closed) nextSweep();
      }
    });
  };
  nextSweep();
  server.on("upgrade", onUpgrade);

  return {
    address: options.address,
    send: outbound.send,
    listen(h: TransportHandlers): void {
      ctx.handlers = h;
    },
    refreshTrust(): void {
      inbound.cutUntrusted();
      outbound.cutUntrustedReaders();
    },
    redial(to: string): void {
      if (ctx.closed) return;
      outbound.drop(to);
      inbound.cutSharedFrom(to);
    },
    stats(): WsTransportStats {
      let shared = sharing.readers.size;
      for (const set of sharing.sharedIn.values()) shared += set.size;
      return { ...ctx.stats, outbound: out.size, inbound: inbound.inbound.size, shared };
    },
    async close(): Promise<void> {
      if (ctx.closed) return;
      ctx.closed = true;
      timer.clear();
      server.off("upgrade", onUpgrade);
      for (const p of out.values()) p.dropped = true;
      const sockets = [
        ...[...out.values()].map((p) => p.ws),
        ...[...inbound.inbound].map((c) => c.ws),
      ];
      out.clear();
      inbound.inbound.clear();
      sharing.readers.clear();
      sharing.sharedIn.clear();
      await Promise.all(sockets.map((ws) => {
        if (ws.readyState === WebSocket.CLOSED) return;
        const done = new Promise<void>((resolve) => ws.once("close", () => resolve()));
        ws.terminate();
        return done;
      }));
      inbound.wss.close();
    },
  };
}
