/**
 * The dialling side of the WebSocket transport (see `ws_transport.ts`): one connection per peer
 * address, dialled when a frame has no connection to carry it, frames queued while it connects,
 * a high-water mark per connection, idle closes and liveness pings at each sweep, and a check
 * dial when a connection is lost without a close frame (1006).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import WebSocket from "ws";
import { monotonicNow } from "../lib/cluster/monotonic_now.ts";
import type { Frame, SendOptions } from "../lib/cluster/transport.ts";
import { deadlineIn } from "../lib/net/late_deadline.ts";
import type { PinnedTlsOptions } from "../lib/net/pin.ts";
import { SHARE_CONFIRM, SHARE_HEADER, shareNonce } from "./link_proof.ts";
import {
  ADDRESS_HEADER,
  ADDRESS_RE,
  GOSSIP_PATH,
  type Outbound,
  RELIABLE_FACTOR,
  type WsContext,
} from "./ws_context.ts";
import type { WsInbound } from "./ws_inbound.ts";
import type { WsSharing } from "./ws_sharing.ts";

/** How `ws` fails a dial the listener answered 403 (it does not trust our certificate). */
const REFUSED_CERTIFICATE = "Unexpected server response: 403";

/** At most one check dial per address in this time (ms) after its connection was lost. */
const CHECK_MS = 1000;

/**
 * An outbound connection gets a liveness ping every this many sweeps: often enough that its
 * listener, which closes a connection silent for six sweeps (`ws_inbound.ts`), sees one, and
 * seldom enough that pings stay a small part of an idle member's traffic (at N=50 each member
 * holds 49 connections each way).
 */
const PING_SWEEPS = 2;
/**
 * A busy connection gets a liveness ping only every this many sweeps: a dead peer behind a busy
 * connection is found by the gossip probes anyway.
 */
const BUSY_PING_SWEEPS = 4;

/** The dialling side of one transport (see {@link createWsOutbound}). */
export interface WsOutbound {
  /** The connections dialled, by peer address. */
  readonly out: Map<string, Outbound>;
  /** The transport's `send`. */
  send(to: string, frame: Frame, sendOptions?: SendOptions): void;
  /** Dials `to` again after its connection was lost (once per second at most). */
  check(to: string): void;
  /** Cuts our shared connections whose listener's certificate is no longer trusted. */
  cutUntrustedReaders(): void;
  /** Closes the open connection we dialled to `to`, if any (one still connecting is kept). */
  drop(to: string): void;
  /**
   * The dialling side's part of a sweep at `now` (`monotonicNow()`): closes idle, unresponsive or
   * no longer needed connections and pings the others when due.
   */
  sweep(now: number): void;
}

/**
 * The dialling side of the transport of `ctx`. `tls` (with `connectMs`, the handshake's
 * deadline) is what a dial presents and pins; `share`: whether dials ask the listener for its
 * proof; `idleMs`, `keepOpenMs` and `maxKept` are the transport's `idleCloseMs`, `keepOpenMs`
 * and `maxKeptOpen`.
 */
export function createWsOutbound(
  ctx: WsContext,
  sharing: WsSharing,
  inboundSide: WsInbound,
  options: {
    tls: PinnedTlsOptions;
    connectMs: number;
    share: boolean;
    idleMs: number;
    keepOpenMs?: () => number;
    maxKept: number;
  },
): WsOutbound {
  const log = ctx.log;
  const s = ctx.stats;
  const { share, idleMs, keepOpenMs, maxKept } = options;
  const maxFrame = ctx.maxFrame;
  const mark = ctx.mark;
  const write = ctx.write;
  const dialOptions = {
    ...options.tls,
    perMessageDeflate: false, // the ws client default is true
    // No `handshakeTimeout`: each dial times itself (see `dial`).
    maxPayload: maxFrame,
    headers: { [ADDRESS_HEADER]: ctx.address },
  };
  const out = new Map<string, Outbound>();
  /** When each address was last dialled again after a lost connection (see `check`). */
  const checked = new Map<string, number>();
  const readers = sharing.readers;

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
      usedAt: monotonicNow(),
      busy: true,
      sincePing: 0,
      awaitingPong: false,
    };
    out.set(to, peer);
    s.dialled++;
    // The whole dial (TCP, TLS, upgrade) gets `connectMs`. Not ws's `handshakeTimeout`: that is
    // the socket's silence (a listener answering a byte at a time is never cut), and a loop held
    // past it runs it before it reads an answer that arrived in time (late_deadline.ts).
    let timedOut = false;
    const deadline = deadlineIn(options.connectMs, () => {
      if (ws.readyState !== WebSocket.CONNECTING) return;
      timedOut = true;
      ws.terminate(); // emits "error", then "close"
    });
    if (nonce) {
      ws.on("upgrade", (res: IncomingMessage) => sharing.checkProof(peer, to, nonce, res));
    }
    ws.on("open", () => {
      deadline.clear();
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
      peer.usedAt = monotonicNow(); // the listener uses it: keep it open
      inboundSide.receive(reader, data, isBinary);
    });
    ws.on("pong", () => peer.awaitingPong = false);
    ws.on("error", (err: Error & { code?: string }) => {
      if (peer.queue) s.dropped += peer.queue.length;
      peer.queue = undefined;
      if (timedOut) {
        log.debug("Gossip dial timed out", { to, connectMs: options.connectMs });
      } else if (err.code === "ECONNREFUSED") {
        s.refused++;
        log.debug("Gossip peer refused the connection", { to });
        if (!ctx.closed) callRefused(to);
      } else if (err.name === "ForbiddenError") {
        log.warn("Gossip peer failed the certificate pin", { to, err });
      } else if (err.message === REFUSED_CERTIFICATE) {
        log.debug("Gossip peer refused our certificate", { to });
        if (!ctx.closed) ctx.certificateRefused(to);
      } else {
        log.debug("Gossip connection failed", { to, err });
      }
    });
    ws.on("close", (code: number) => {
      deadline.clear();
      if (out.get(to) === peer) out.delete(to);
      if (peer.reader) readers.delete(peer.reader);
      // An open connection lost without a close frame (1006): the peer's process may have
      // died (kill -9 closes its sockets at once). Dial it again now: a refusal then reaches
      // the engine at once, not at the next frame we happen to send it.
      if (code === 1006 && peer.opened && !peer.dropped && !ctx.closed) check(to);
    });
    return peer;
  }

  /** Dials `to` again after its connection was lost (once per {@link CHECK_MS}). */
  function check(to: string): void {
    const now = monotonicNow();
    if (out.has(to) || now - (checked.get(to) ?? -Infinity) < CHECK_MS) return;
    checked.set(to, now);
    log.debug("Gossip connection lost, dialling again", { to });
    dial(to);
  }

  function callRefused(to: string): void {
    try {
      ctx.handlers.refused(to);
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
    if (ctx.closed) return;
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
    const shared = sharing.viaShared(to, peer);
    if (shared) return sharing.sendShared(shared, data, size, sendOptions);
    if (!peer) {
      if (!ADDRESS_RE.test(to)) {
        log.warn("Gossip frame to a malformed address dropped", { to });
        return void s.dropped++;
      }
      peer = dial(to);
      if (!peer) return void s.dropped++;
    }
    peer.usedAt = monotonicNow();
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

  function sweep(now: number): void {
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
      if (peer.queue) continue; // still connecting: the dial's own deadline applies
      const busy = peer.busy;
      peer.busy = false;
      const closeMs = peer.usedAt >= keptSince ? keepMs : idleMs;
      if (
        !peer.awaitingPong &&
        (now - peer.usedAt >= closeMs ? peer.reader : !busy && sharing.viaShared(to, peer))
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
  }

  return {
    out,
    send,
    check,
    drop(to: string): void {
      const peer = out.get(to);
      if (!peer || peer.queue) return;
      if (peer.reader) readers.delete(peer.reader);
      out.delete(to);
      peer.dropped = true;
      peer.ws.terminate();
    },
    cutUntrustedReaders(): void {
      for (const [to, peer] of out) {
        const reader = peer.reader;
        if (!reader || ctx.isTrusted(reader.fingerprint)) continue;
        log.info("Gossip peer no longer trusted, cut", { to, fingerprint: reader.fingerprint });
        readers.delete(reader);
        out.delete(to);
        peer.dropped = true;
        peer.ws.terminate();
      }
    },
    sweep(now: number): void {
      sweep(now);
      const old = now - CHECK_MS;
      for (const [to, at] of checked) if (at < old) checked.delete(to);
    },
  };
}
