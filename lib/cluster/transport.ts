/**
 * The gossip engine's only way to reach other members ({@link Transport}) and what it calls back
 * ({@link TransportHandlers}), so that `gossip/` runs over WebSockets or in memory alike.
 *
 * @module
 */

/**
 * A frame the engine hands to a transport: a JSON-compatible object. A transport that crosses
 * a process boundary encodes it (JSON text); an in-process transport may pass the object
 * itself. Inbound, the engine accepts the object, JSON text, or UTF-8 bytes of JSON text and
 * validates whatever arrives, so a transport never needs to understand the protocol.
 */
export type Frame = string | Uint8Array | object;

/** Per-send hints. */
export interface SendOptions {
  /**
   * The frame carries state that should not be dropped under back-pressure (push-pull, leave).
   * Without it a transport under pressure may drop the frame. @default false
   */
  readonly reliable?: boolean;
}

/** What a transport calls back into. */
export interface TransportHandlers {
  /**
   * A frame arrived. `from` is the sender's listening address (where a reply should go), as
   * established by the transport (for WebSockets: the address the authenticated peer
   * advertised). `peer` is the sender's identity as the transport authenticated it (for
   * WebSockets: the fingerprint of its client certificate), absent when the transport does not
   * authenticate senders; the engine maps it to a member name (`Trust.nameOf`) to tell a
   * member's first-hand claims from relayed ones.
   */
  message(from: string, frame: Frame, peer?: string): void;
  /**
   * Positive evidence that nothing listens at `to` any more (a refused connection). Only report
   * refusals: a silent timeout must stay silent so that the full suspicion path applies.
   */
  refused(to: string): void;
}

/**
 * The engine's only way to reach other members: best-effort, message-oriented, unordered.
 * Request/response (acks, push-pull, extension fetch) is built by the engine on top of it with
 * sequence numbers, so a transport needs no streams.
 */
export interface Transport {
  /** The local listening address others use to reach this member. */
  readonly address: string;
  /** Sends a frame. Never throws and never blocks; failures are dropped (or `refused`). */
  send(to: string, frame: Frame, options?: SendOptions): void;
  /** Installs the inbound handlers (replacing previous ones). */
  listen(handlers: TransportHandlers): void;
  /** Stops receiving and sending; later sends are dropped silently. */
  close(): Promise<void>;
  /**
   * The next frame to `to` must not go over a connection held from before: the member there
   * was unreachable, and a connection that outlived a partition may still look open while
   * what is written on it goes nowhere. Transports without connections leave it out.
   */
  redial?(to: string): void;
}
