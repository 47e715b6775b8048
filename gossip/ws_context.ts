/**
 * What the parts of the WebSocket transport (`ws_transport.ts`) share: the protocol's path and
 * header, the connection records of both sides, the counters, and a small context object each
 * part is handed (`ws_inbound.ts`, `ws_outbound.ts`, `ws_sharing.ts`).
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type WebSocket from "ws";
import type { TransportHandlers } from "../lib/cluster/transport.ts";
import type { Logger } from "../lib/log.ts";

/** The HTTP path gossip connections upgrade on. */
export const GOSSIP_PATH = "/core/internal/gossip";
/** Request header in which a dialler advertises its own listening address (`host:port`). */
export const ADDRESS_HEADER = "x-cohort-address";
/** A `reliable` frame may exceed the high-water mark, but not this multiple of it. */
export const RELIABLE_FACTOR = 4;
/** A listening address as a dialler may advertise it and frames may be sent to: `host:port`. */
export const ADDRESS_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;

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

/** A connection this transport dialled. */
export interface Outbound {
  ws: WebSocket;
  /** Frames sent before `open`, and their byte total; `undefined` once open. */
  queue: (string | Uint8Array)[] | undefined;
  queued: number;
  /** When a frame was last sent (`monotonicNow()`, `lib/cluster/monotonic_now.ts`). */
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

/**
 * A connection frames are read on: one this transport accepted, or the listener's side of one
 * it dialled that the listener shares (a reader).
 */
export interface Inbound {
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
  /** When the current pause ends (`monotonicNow()`); the next turn's for a per-turn pause. */
  heldUntil?: number;
  /** Counts pauses, so that only the latest one resumes the connection. */
  holds?: number;
  /** Frames handed on in this turn of the event loop (see `TURN_FRAMES`). */
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

/** The state every part of one transport shares (one object per transport, no globals). */
export interface WsContext {
  /** The transport's logger (`component: gossip:ws`). */
  readonly log: Logger;
  /** Our advertised listening address, `host:port`. */
  readonly address: string;
  /** Whether a client certificate fingerprint belongs to the trust set. */
  readonly isTrusted: (fingerprint: string) => boolean;
  /** Largest frame sent or accepted, in bytes. */
  readonly maxFrame: number;
  /** High-water mark per connection, in bytes. */
  readonly mark: number;
  /** The counters (`outbound`, `inbound` and `shared` are filled in by `stats()`). */
  readonly stats: WsTransportStats;
  /** Sends a frame on a connection, coalesced per turn (see `coalescingSender`). */
  readonly write: (ws: WebSocket, data: string | Uint8Array) => void;
  /** The engine's handlers (none until `listen`). */
  handlers: TransportHandlers;
  /** A listener answered our dial 403 (the transport's `onCertificateRefused`). */
  readonly certificateRefused: (to: string) => void;
  /** Set once `close()` ran. */
  closed: boolean;
}
